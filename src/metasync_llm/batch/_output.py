"""Batch output: JSON Lines written whole as calls finish, and read back to resume a job."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from metasync_llm.batch._requests import id_key
from metasync_llm.errors import ConfigurationError


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
        self.done: set[str] = set()
        self.dropped = 0  # torn lines cut off, failed rows dropped for a retry
        self._on_row = on_row
        self._on_kept = on_kept  # sees each row kept from an earlier run (for the summary)
        self._file: IO[str] | None = None
        self._owned = False
        if target is None:
            return
        if not isinstance(target, str | Path):
            self._file = target
            return
        path = Path(target)
        if path.exists() and path.stat().st_size > 0:
            if resume or retry_failed:
                self._scan(path, retry_failed=retry_failed)
            elif not overwrite:
                raise ConfigurationError(
                    f"output {str(path)!r} exists: --resume to continue that job, or"
                    " --overwrite to start again",
                    fields=("output",),
                )
        mode = "a" if resume or retry_failed else "w"
        self._file = open(path, mode, encoding="utf-8", newline="\n")  # noqa: SIM115
        self._owned = True

    def _scan(self, path: Path, *, retry_failed: bool) -> None:
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
            if good_end < path.stat().st_size:
                with open(path, "r+b") as file:
                    file.truncate(good_end)
            return
        # Rewrite without the failed rows, then rename: a kill leaves one file or the other.
        temporary = path.with_name(path.name + ".tmp")
        with open(path, "rb") as source, open(temporary, "wb") as target:
            for raw in source:
                row = _row(raw)
                if row is not None and not retryable(row):
                    target.write(raw)
            target.flush()
            os.fsync(target.fileno())
        os.replace(temporary, path)

    def write(self, row: dict[str, Any]) -> None:
        """Write one row: a whole line, flushed before the next call can finish."""
        if self._file is not None:
            self._file.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            self._file.flush()
        if self._on_row is not None:
            self._on_row(row)

    def close(self) -> None:
        if self._owned and self._file is not None:
            self._file.close()
        self._file = None


def _row(raw: bytes) -> dict[str, Any] | None:
    if not raw.endswith(b"\n"):
        return None
    try:
        row = json.loads(raw)
    except ValueError:
        return None
    return row if isinstance(row, dict) and ("id" in row or "line" in row) else None
