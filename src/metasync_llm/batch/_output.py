"""Batch output: JSON Lines written whole as calls finish, and read back to resume a job.

A job holds an exclusive lock on its output file for its whole life (``flock``, released
by the kernel when the process ends however it ends), so a second job on the same file
stops at once instead of tearing its lines or paying for every call twice.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from metasync_llm.batch._ids import IdSet
from metasync_llm.batch._requests import id_key
from metasync_llm.errors import ConfigurationError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; two jobs on one output are the user's care
    fcntl = None  # type: ignore[assignment]


class OutputError(OSError):
    """The job's output could not be written (a full disk, a closed pipe): the job stops.

    Rows already written are whole; ``--resume`` continues from them.
    """


class OutputLockedError(ConfigurationError):
    """Another job holds the output file."""


def row_key(row: dict[str, Any]) -> str:
    """What an output row is tracked by: its id, else (a bad input line) its line number."""
    request_id = row.get("id")
    return id_key(request_id) if request_id is not None else f"line:{row.get('line')}"


def retryable(row: dict[str, Any]) -> bool:
    """Whether a row failed with an error worth running again (``--retry-failed``)."""
    error = row.get("error")
    return isinstance(error, dict) and error.get("retryable") is True


class Output:
    """Where rows go: a file (one complete line per row, flushed at once) or a stream.

    ``resume`` reads the rows a file already has (one at a time: only their keys stay, in
    :attr:`done`, which the job skips); a torn last line, left by a kill mid-write, is cut off. With
    ``retry_failed`` the rows whose error is retryable are dropped from the file first
    (rewritten to a temporary file, then renamed over it), so they run again. Without
    ``resume``, an existing non-empty file is an error unless ``overwrite``.
    """

    def __init__(
        self,
        target: str | Path | IO[str] | None,
        *,
        resume: bool = False,
        retry_failed: bool = False,
        overwrite: bool = False,
        on_row: Callable[[dict[str, Any]], object] | None = None,
        on_kept: Callable[[dict[str, Any]], object] | None = None,
    ) -> None:
        self.done = IdSet()
        self.dropped = 0  # torn lines cut off, failed rows dropped for a retry
        self._on_row = on_row
        self._on_kept = on_kept  # sees each row kept from an earlier run (for the summary)
        self._file: IO[str] | None = None  # a stream given by the caller
        self._fd: int | None = None  # a file of ours, locked, written whole lines at a time
        self._end = 0  # where the file's last whole line ends
        self._regular = False
        self._name = "<stream>"
        if target is None:
            return
        if not isinstance(target, str | Path):
            self._file = target
            self._name = str(getattr(target, "name", self._name))
            return
        path = Path(target)
        self._name = str(path)
        # Opened without truncating, and locked, before anything is read or cut: a second
        # job must not empty the file of a job that is running.
        fd = _open_locked(path)
        try:
            if os.fstat(fd).st_size > 0:
                if resume or retry_failed:
                    fd = self._scan(path, fd, retry_failed=retry_failed)
                elif overwrite:
                    os.ftruncate(fd, 0)
                else:
                    raise ConfigurationError(
                        f"output {str(path)!r} exists: --resume to continue that job, or"
                        " --overwrite to start again",
                        fields=("output",),
                    )
            status = os.fstat(fd)
            self._end = status.st_size
            self._regular = stat.S_ISREG(status.st_mode)  # not /dev/full, a FIFO
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _scan(self, path: Path, fd: int, *, retry_failed: bool) -> int:
        """Read the rows ``path`` has; the descriptor to append to (``fd``, or the locked
        rewritten file that replaced it)."""
        good_end = 0
        keep_all = True
        with open(path, "rb") as file:
            number = 0
            for raw in file:
                number += 1
                row = _row(raw)
                if row is None:
                    if file.read(1):  # more lines follow: not a torn tail, a foreign file
                        raise ConfigurationError(
                            f"output {str(path)!r} line {number} is not a row of a batch job;"
                            " give another output file",
                            fields=("output",),
                        )
                    self.dropped += 1  # a kill cut this last line short
                    break
                good_end += len(raw)
                if retry_failed and retryable(row):
                    keep_all = False
                    self.dropped += 1
                    continue
                if row_key(row) in self.done:
                    continue  # an earlier run wrote it twice: keep the first
                self.done.add(row_key(row))
                if self._on_kept is not None:
                    self._on_kept(row)
        if keep_all:
            if good_end < os.fstat(fd).st_size:
                os.ftruncate(fd, good_end)
            return fd
        # Rewrite without the failed rows, then rename: a kill leaves one file or the other.
        # The new file is locked before it takes the name, so the name is never unlocked.
        temporary = path.with_name(path.name + ".tmp")
        new = _open_locked(temporary)
        try:
            os.ftruncate(new, 0)
            with open(path, "rb") as source, open(new, "ab", closefd=False) as target:
                for raw in source:
                    row = _row(raw)
                    if row is not None and not retryable(row):
                        target.write(raw)
                target.flush()
                os.fsync(new)
            os.replace(temporary, path)
        except BaseException:
            os.close(new)
            raise
        os.close(fd)
        return new

    def write(self, row: dict[str, Any]) -> None:
        """Write one row: a whole line, on its way to the disk before the next call can
        finish.

        A failed write (full disk) is an :class:`OutputError`, and what it wrote of the
        line is cut off again, so the file holds whole rows only; a closed pipe is the
        ``BrokenPipeError`` itself, which a command ends on quietly.
        """
        if self._fd is not None or self._file is not None:
            line = json.dumps(row, ensure_ascii=False, default=str) + "\n"
            try:
                try:
                    self._put(line)
                except UnicodeEncodeError:
                    # A lone surrogate (a "\\ud800" escape in the input) cannot be UTF-8:
                    # the row is written with JSON escapes, which read back as the same text.
                    self._put(json.dumps(row, default=str) + "\n")
            except BrokenPipeError:
                raise
            except OSError as exc:
                if self._fd is not None and self._regular:
                    os.ftruncate(self._fd, self._end)
                raise OutputError(
                    exc.errno, f"cannot write the output {self._name!r}: {exc.strerror or exc}"
                ) from exc
        if self._on_row is not None:
            self._on_row(row)

    def _put(self, line: str) -> None:
        if self._fd is None:
            assert self._file is not None
            self._file.write(line)
            self._file.flush()
            return
        data = line.encode("utf-8")
        view = memoryview(data)
        while view:  # a short write (a disk filling up) is followed by the error
            view = view[os.write(self._fd, view) :]
        self._end += len(data)

    def close(self) -> None:
        """Close the file, and so release its lock (a stream stays open)."""
        fd, self._fd, self._file = self._fd, None, None
        if fd is not None:
            os.close(fd)


def _open_locked(path: Path) -> int:
    """``path`` opened for appending (created if missing, never truncated), locked for
    this job; :class:`OutputLockedError` if another job holds it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot open the output {str(path)!r}: {exc.strerror or exc}", fields=("output",)
        ) from None
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputLockedError(
                f"output {str(path)!r} is in use by another batch job; wait for it to end,"
                " or give another output file",
                fields=("output",),
            ) from None
    return fd


def _row(raw: bytes) -> dict[str, Any] | None:
    if not raw.endswith(b"\n"):
        return None
    try:
        row = json.loads(raw)
    except ValueError:
        return None
    return row if isinstance(row, dict) and ("id" in row or "line" in row) else None
