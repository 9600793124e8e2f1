"""Join shards of generated showers: a copy into one file, or a virtual HDF5 file without copying.

Shards come from ``hepgan generate --shard i/N``; all must share layout, geometry and
dataset shapes. The virtual mode writes an HDF5 file whose datasets are HDF5 virtual
datasets mapping onto the shards (paths stored relative to the merged file, so the folder
can be moved as a whole); the shards must stay next to it.

Before anything is opened, the output is checked not to be one of the shards and no shard
may be given twice (the same file under two names); shards written by ``--shard`` carry a
``shard`` attribute ("i/N"), and two files with the same one are refused as duplicates.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from hepgan.errors import ConfigError, InputFileError
from hepgan.io.atomic import atomic_output, refuse_output_onto_inputs, same_file
from hepgan.io.geometry import CaloGeometry
from hepgan.io.showers import ShowerReader, ShowerWriter, detect_layout


def check_merge_paths(paths: list[Path], output: Path) -> None:
    """Refuse an empty input list, an output that is one of the inputs, and an input given twice.

    Nothing is opened: paths are compared as :func:`~hepgan.io.atomic.same_file` does.

    Raises:
        ConfigError: no inputs, or one file given twice (both names quoted).
        OutputError: ``output`` is one of the inputs.
    """
    if not paths:
        raise ConfigError("merge: no input files given")
    refuse_output_onto_inputs(output, paths, "input shard")
    for i, path in enumerate(paths):
        for earlier in paths[:i]:
            if same_file(earlier, path):
                raise ConfigError(
                    f"merge: {path} is the same file as {earlier}, given earlier; each shard may be merged once"
                )


def _shard_label(attrs: h5py.AttributeManager) -> str | None:
    """The ``shard`` attribute ("i/N") of an open shard, or None where it has none."""
    value = attrs.get("shard")
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _check_compatible(paths: list[Path]) -> tuple[str, dict[str, tuple[tuple[int, ...], np.dtype]]]:
    """Layout and per-dataset (row shape, dtype) shared by all shards; no two shards with one ``shard`` label."""
    if not paths:
        raise ConfigError("merge: no input files given")
    layout = detect_layout(paths[0])
    if layout == "root":
        raise ConfigError(f"{paths[0]}: merge joins HDF5 shards; convert ROOT files with hepgan generate -o *.h5")
    reference: dict[str, tuple[tuple[int, ...], np.dtype]] | None = None
    shards: dict[str, Path] = {}
    for path in paths:
        if detect_layout(path) != layout:
            raise InputFileError(f"{path}: layout {detect_layout(path)!r} differs from {paths[0]} ({layout!r})")
        with h5py.File(path, "r") as f:
            shapes = {key: (f[key].shape[1:], f[key].dtype) for key in f if isinstance(f[key], h5py.Dataset)}
            label = _shard_label(f.attrs)
        if label is not None:
            if label in shards:
                raise InputFileError(
                    f"{path}: shard {label} again (already in {shards[label]}); each shard may be merged once"
                )
            shards[label] = path
        if reference is None:
            reference = shapes
        elif shapes != reference:
            raise InputFileError(f"{path}: datasets {sorted(shapes)} or their shapes differ from {paths[0]}")
    return layout, reference or {}


def merge_copy(paths: list[Path], output: Path, geometry: CaloGeometry, chunk_size: int = 100_000) -> int:
    """Copy the shards, in order, into one file (streamed; written atomically). Returns the shower count.

    Raises:
        ConfigError, OutputError: as :func:`check_merge_paths`; InputFileError: shards that
            differ in layout or datasets, or two with the same ``shard`` attribute.
    """
    check_merge_paths(paths, output)
    _check_compatible(paths)
    with ShowerWriter(output, geometry, attrs={"merged_from": [str(p) for p in paths]}) as writer:
        for path in paths:
            with ShowerReader(path, geometry, chunk_size=chunk_size) as reader:
                for batch in reader.iter_chunks():
                    writer.write(batch)
        return writer.n_written


def merge_virtual(paths: list[Path], output: Path) -> int:
    """Write ``output`` as an HDF5 file of virtual datasets over the shards (no data copied), atomically.

    Raises:
        ConfigError, OutputError: as :func:`check_merge_paths`; InputFileError: as :func:`merge_copy`.
        OutputError: the output cannot be created or written (path and reason named).
    """
    output = Path(output)
    check_merge_paths(paths, output)
    _, shapes = _check_compatible(paths)
    lengths = []
    first_attrs: dict = {}
    for i, path in enumerate(paths):
        with h5py.File(path, "r") as f:
            lengths.append(len(f[next(iter(shapes))]))
            if i == 0:
                first_attrs = dict(f.attrs)
    total = int(sum(lengths))
    with atomic_output(output) as tmp, h5py.File(tmp, "w") as out:
        for key, (row_shape, dtype) in shapes.items():
            layout = h5py.VirtualLayout(shape=(total, *row_shape), dtype=dtype)
            start = 0
            for path, n in zip(paths, lengths, strict=True):
                source = h5py.VirtualSource(os.path.relpath(path, output.parent or "."), key, shape=(n, *row_shape))
                layout[start : start + n] = source
                start += n
            out.create_virtual_dataset(key, layout)
        for name, value in first_attrs.items():
            if name not in ("seed", "shard", "shard_seed", "n_total"):
                out.attrs[name] = value
        out.attrs["merged_from"] = [str(p) for p in paths]
        out.attrs["virtual"] = True
    return total
