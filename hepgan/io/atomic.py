"""Atomic output files: written under a temporary name beside the target, renamed onto it when complete.

Every hepgan output file written here (shower files, event tables, plain byte files) gets
the same guarantees from :class:`AtomicWriter`:

- the target is checked before anything is written: it must name a file ('', '.', '..' and
  names ending in '/' are refused), its folder must exist, and an existing target must be a
  regular file (not a folder, FIFO or device);
- the data go to ``.{name}.tmp-{pid}`` in the target's folder;
- :meth:`AtomicWriter.close` (or leaving a ``with`` block normally) finishes the file, checks
  the target again and renames the temporary file onto it with :func:`os.replace`, so a
  reader sees either the earlier file or the complete new one, never a partial file;
- :meth:`AtomicWriter.abort` (or an exception in the ``with`` block, or any failure while
  closing) deletes the temporary file and leaves an earlier file at the target untouched;
- operating-system failures are raised as one :class:`~hepgan.errors.OutputError` line
  naming the target and the reason.

A writer for one kind of file subclasses :class:`AtomicWriter` and supplies
``_open_sink`` (open the format's file under the temporary name) and ``_write_batch``
(append one batch to it). :func:`write_bytes_atomic` writes a bytes object this way, and
:func:`atomic_output` lends the temporary name to code that creates the file itself.

A job that reads files and writes one calls :func:`refuse_output_onto_inputs` before it opens
anything, so its output can never replace one of its own inputs.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator, Sized
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Generic, Protocol, TypeVar

from hepgan.errors import OutputError

SINK_ERRORS = (OSError, RuntimeError)
"""What creating, writing or closing a file raises on failure (h5py reports some as RuntimeError)."""

MAX_REASON_CHARS = 200
"""Quoted failure reasons are cut to this many characters."""

BatchT = TypeVar("BatchT", bound=Sized)
WriterT = TypeVar("WriterT", bound="AtomicWriter[Any]")


class Sink(Protocol):
    """An open output file of one format, under the temporary name."""

    def finish(self) -> None:
        """Write what is buffered and close the file; raise OSError or RuntimeError on failure."""

    def discard(self) -> None:
        """Close the file, ignoring errors (it is deleted next)."""


def reason(exc: BaseException) -> str:
    """A short one-line reason: an OSError's strerror, else the exception text (at most ~200 characters)."""
    strerror = getattr(exc, "strerror", None)
    text = " ".join(str(strerror or exc).split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3].rstrip() + "..."


def output_path(path: str | os.PathLike[str], example: str = "out.h5") -> Path:
    """``path`` as a Path; OutputError when it names no file ('', '.', '..', a trailing '/')."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    out = Path(text)
    if not text or text.endswith(("/", os.sep)) or out.name in ("", ".", ".."):
        raise OutputError(f"{text!r}: output path names no file; expected a file name such as {example}")
    return out


def same_file(first: str | os.PathLike[str], second: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file.

    True when they resolve to the same path (symbolic links, '.', '..' and repeated slashes
    followed, relative paths taken from the working folder; the files need not exist), or
    when both exist and are the same file on disk (hard links, bind mounts).
    """
    try:
        if os.path.realpath(first) == os.path.realpath(second):
            return True
    except (OSError, ValueError):  # ValueError: a NUL character in a path
        pass
    try:
        return os.path.samefile(first, second)
    except (OSError, ValueError):  # one of them does not exist (or cannot be reached)
        return False


def refuse_output_onto_inputs(
    output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str] | None], what: str
) -> None:
    """OutputError when ``output`` is one of ``inputs`` (see :func:`same_file`); None entries are skipped.

    Call it before anything is opened or written: writing the output would replace the input.
    ``what`` names the inputs' role in the message, e.g. "checkpoint" or "input shard".
    """
    for path in inputs:
        if path is not None and same_file(output, path):
            raise OutputError(
                f"{os.fspath(output)}: output is the {what} {os.fspath(path)} (the same file); "
                "writing it would replace that input, choose another output name"
            )


def check_folder(path: Path) -> None:
    """OutputError when the folder that should hold ``path`` is missing or is not a folder."""
    folder = path.parent
    if folder.is_dir():
        return
    problem = f"{folder} is not a directory" if folder.exists() else f"directory {folder} does not exist"
    raise OutputError(f"{path}: cannot create output file ({problem})")


def check_target(path: Path) -> None:
    """OutputError when ``path`` exists and is not a regular file (a folder, FIFO, device, socket)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{path}: cannot create output file ({reason(exc)})") from None
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        kind = "a directory"
    elif stat.S_ISFIFO(mode):
        kind = "a FIFO"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    else:
        kind = "not a regular file"
    raise OutputError(f"{path}: output exists and is {kind}; expected a regular file or a new name")


TEMPORARY_NAME_MAX = 255
"""Longest temporary name (bytes): a target name near the file system's limit gets a shortened one."""


def temporary_path(path: Path) -> Path:
    """The temporary name of ``path`` while it is written: ``.{name}.tmp-{pid}`` in the same folder
    (``.{start of name}~{hash}.tmp-{pid}`` when that would be longer than a file name may be)."""
    return hidden_sibling(path, f".tmp-{os.getpid()}")


def hidden_sibling(path: Path, suffix: str) -> Path:
    """``.{name}{suffix}`` beside ``path``, shortened to ``.{start of name}~{hash}{suffix}`` when that would be
    longer than a file name may be (:data:`TEMPORARY_NAME_MAX` bytes)."""
    name = f".{path.name}{suffix}"
    if len(os.fsencode(name)) > TEMPORARY_NAME_MAX:
        digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:12]
        head = os.fsencode(path.name)[: TEMPORARY_NAME_MAX - 2 - len(digest) - len(os.fsencode(suffix))]
        name = f".{head.decode('utf-8', 'ignore')}~{digest}{suffix}"
    return path.with_name(name)


class AtomicWriter(Generic[BatchT]):
    """Appends batches to a new file under a temporary name and moves it onto ``path`` on :meth:`close`.

    A subclass calls ``super().__init__(path)`` (which checks that ``path`` names a file),
    checks its own options, then calls :meth:`_open`, which checks the folder and the target
    and opens the sink through ``_open_sink``. It implements ``_write_batch`` and may refuse
    batches in ``_check_batch`` (raising OutputError) and act on success in ``_finished``.

    Attributes:
        path: the target file.
        tmp_path: the temporary file written until :meth:`close`.
        n_written: number of items (events, showers, bytes) written so far.
    """

    example_name = "out.h5"
    """A file name quoted when a path names no file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = output_path(path, self.example_name)
        self.tmp_path = temporary_path(self.path)
        self.n_written = 0
        self._closed = False
        self._sink: Any = None

    # ------------------------------------------------------------------ supplied by subclasses
    def _open_sink(self, tmp_path: Path) -> Sink:
        """Create the output file at ``tmp_path``; raise OSError or RuntimeError when it cannot be created."""
        raise NotImplementedError

    def _write_batch(self, batch: BatchT) -> None:
        """Append a non-empty batch to the sink; raise OSError or RuntimeError when writing fails."""
        raise NotImplementedError

    def _check_batch(self, batch: BatchT) -> None:
        """Raise OutputError when ``batch`` does not fit the file; every batch fits by default."""

    def _finished(self) -> None:
        """Called once the complete file is in place under ``path``."""

    # ------------------------------------------------------------------ the atomic protocol
    def _open(self) -> None:
        """Check the folder and the target, then open the sink under the temporary name.

        Raises:
            OutputError: the folder is missing, the target is not a regular file, or the
                file cannot be created (path and reason named).
        """
        check_folder(self.path)
        check_target(self.path)
        try:
            self._sink = self._open_sink(self.tmp_path)
        except SINK_ERRORS as exc:
            self._remove_tmp()
            raise OutputError(f"{self.path}: cannot create output file ({reason(exc)})") from None
        except BaseException:
            self._remove_tmp()
            raise

    def __enter__(self: WriterT) -> WriterT:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, batch: BatchT) -> None:
        """Append a batch; empty batches are skipped.

        Raises:
            OutputError: the writer is closed, the batch does not fit the file, or writing
                failed (disk full, ...).
        """
        if self._closed:
            raise OutputError(f"{self.path}: writer is already closed")
        self._check_batch(batch)
        if len(batch) == 0:
            return
        try:
            self._write_batch(batch)
        except SINK_ERRORS as exc:
            raise OutputError(f"{self.path}: writing failed ({reason(exc)})") from None
        self.n_written += len(batch)

    def close(self) -> None:
        """Finish the file and move it onto ``path``; on any failure delete it (OutputError for OS failures)."""
        if self._closed:
            return
        try:
            self._sink.finish()
            check_target(self.path)
            os.replace(self.tmp_path, self.path)
        except OutputError:
            self.abort()
            raise
        except SINK_ERRORS as exc:
            self.abort()
            raise OutputError(f"{self.path}: cannot finish output file ({reason(exc)})") from None
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._finished()

    def abort(self) -> None:
        """Drop everything written; an existing file at ``path`` is left untouched."""
        if self._closed:
            return
        self._closed = True
        if self._sink is not None:
            self._sink.discard()
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        try:
            self.tmp_path.unlink()
        except OSError:  # never created, or already gone
            pass


class _BytesSink:
    """A plain binary file, flushed to disk (fsync) before it is moved into place."""

    def __init__(self, path: Path) -> None:
        self._stream: BinaryIO = open(path, "wb")  # closed by finish() or discard()

    def write(self, data: bytes) -> None:
        self._stream.write(data)

    def finish(self) -> None:
        self._stream.flush()
        os.fsync(self._stream.fileno())
        self._stream.close()

    def discard(self) -> None:
        try:
            self._stream.close()
        except OSError:  # a failed flush; the file is deleted next
            pass


class _BytesWriter(AtomicWriter[bytes]):
    """Writes bytes objects to one file; ``n_written`` counts bytes."""

    example_name = "out.bin"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._open()

    def _open_sink(self, tmp_path: Path) -> _BytesSink:
        return _BytesSink(tmp_path)

    def _write_batch(self, batch: bytes) -> None:
        self._sink.write(batch)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename); returns the target path.

    Raises:
        OutputError: the target names no file, its folder is missing, it is not a regular
            file, or writing failed (path and reason named); no file is left behind.
    """
    with _BytesWriter(path) as writer:
        writer.write(bytes(data))
    return writer.path


class _NoSink:
    """Stands for a file that the caller creates and closes itself."""

    def finish(self) -> None:
        """Nothing to finish: the caller has closed the file."""

    def discard(self) -> None:
        """Nothing to close: the caller's ``with`` block has closed the file."""


class _CallerFileWriter(AtomicWriter[Sized]):
    """The atomic protocol for a file written by other code under :attr:`tmp_path`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(path)
        self._open()

    def _open_sink(self, tmp_path: Path) -> _NoSink:
        return _NoSink()


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """The temporary name for a file the caller creates; moved onto ``path`` when the block ends normally.

    Usage::

        with atomic_output("merged.h5") as tmp, h5py.File(tmp, "w") as out:
            ...

    The file must be closed when the block ends (open it in the same ``with``). On an
    exception the temporary file is deleted and an earlier ``path`` stays untouched.

    Raises:
        OutputError: as :class:`AtomicWriter`; also for OSError/RuntimeError raised in the block.
    """
    writer = _CallerFileWriter(path)
    try:
        yield writer.tmp_path
    except SINK_ERRORS as exc:
        writer.abort()
        raise OutputError(f"{writer.path}: writing failed ({reason(exc)})") from None
    except BaseException:
        writer.abort()
        raise
    writer.close()
