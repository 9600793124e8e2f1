"""Per-shower observables of a large sample kept on disk, one column at a time in memory.

A CaloChallenge dataset-3 shower has about 500 observables (11 per layer × 45 layers plus a few
global ones): 4 kB per shower as float64, 400 MB for 10⁵ showers, 4 GB for 10⁶. The report
compares one observable at a time, so :class:`ObservableStore` appends each chunk's observables
to one raw float64 file per observable in a scratch folder and reads a column back
(``store[name]``, N × 8 bytes) only when it is used. Memory then stays flat in the number of
showers; the disk holds N × 8 bytes per observable (about 400 MB per 10⁵ dataset-3 showers).

:func:`take_rows` builds, column by column, the (bounded) row subsample that the whole-sample
metrics (FPD, KPD, classifiers) need (rows drawn by :func:`hepgan.validation.sampling.row_subsample`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["ObservableStore", "take_rows"]


class ObservableStore(Mapping[str, np.ndarray]):
    """Name → (N,) float64 observable, stored as ``<index>.f64`` files in ``directory``.

    Fill it with :meth:`append` (every chunk must hold the same names); reading ``store[name]``
    loads that one column from disk. The folder is the caller's (e.g. a temporary directory
    removed after the report).
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, Path] = {}
        self.n_rows = 0

    def append(self, chunk: Mapping[str, np.ndarray]) -> None:
        """Append one chunk of observables (name → (n,) arrays, the same names and n for every chunk)."""
        if not self._files:
            self._files = {name: self.directory / f"{i:05d}.f64" for i, name in enumerate(chunk)}
        elif set(chunk) != set(self._files):
            raise ValueError("every chunk of observables must hold the same names")
        lengths = {len(np.asarray(values)) for values in chunk.values()}
        if len(lengths) > 1:
            raise ValueError(f"observables of one chunk differ in length: {sorted(lengths)}")
        for name, path in self._files.items():
            with open(path, "ab") as handle:  # Python's write raises on a full disk or a file-size limit
                handle.write(np.ascontiguousarray(chunk[name], dtype=np.float64).tobytes())
        self.n_rows += lengths.pop() if lengths else 0

    def __getitem__(self, name: str) -> np.ndarray:
        path = self._files.get(name)
        if path is None:
            raise KeyError(name)
        values = np.fromfile(path, dtype=np.float64)
        if len(values) != self.n_rows:
            raise OSError(f"{path}: holds {len(values)} of {self.n_rows} values (a truncated scratch file)")
        return values

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def __contains__(self, name: object) -> bool:
        return name in self._files


def take_rows(
    observables: Mapping[str, np.ndarray], names: Sequence[str], rows: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The observables ``names`` (present in ``observables``) restricted to ``rows`` (all when None), in memory."""
    out = {}
    for name in names:
        if name in observables:
            values = np.asarray(observables[name])
            out[name] = values if rows is None else values[rows]
    return out
