"""Progress of a batch job on stderr: a tqdm bar at a terminal, log lines elsewhere."""

from __future__ import annotations

import time
from typing import Any, TextIO

from metasync_llm.batch._summary import BatchSummary


class Progress:
    """Shows a job's progress: done, failed, tokens, cost so far, rate and ETA.

    At a terminal with ``tqdm`` installed (``pip install "metasync-llm[batch]"``), a bar;
    otherwise a plain line every ``interval`` seconds. ``total`` (the input's lines, if
    known) gives the ETA.
    """

    def __init__(self, stream: TextIO, *, total: int | None = None, interval: float = 10.0) -> None:
        self.stream = stream
        self.total = total
        self.interval = interval
        self._bar: Any = None
        self._last = time.monotonic()
        if _isatty(stream):
            try:
                from tqdm import tqdm  # noqa: PLC0415 - an optional extra, for terminals only
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=total, file=stream, unit="row", dynamic_ncols=True)

    def update(self, summary: BatchSummary, rows: int = 1) -> None:
        """``rows`` more rows are done."""
        if self._bar is not None:
            self._bar.update(rows)
            self._bar.set_postfix_str(_postfix(summary), refresh=False)
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.stream.write(self.line(summary) + "\n")
            self.stream.flush()

    def line(self, summary: BatchSummary) -> str:
        """The plain progress line."""
        done = summary.rows - summary.resumed
        rate = done / summary.seconds if summary.seconds > 0 else 0.0
        eta = ""
        if self.total is not None and rate > 0:
            eta = f", ETA {_duration(max(0, self.total - summary.rows) / rate)}"
        return f"batch: {done} done, {_postfix(summary)}, {rate:.1f}/s{eta}"

    def note(self, message: str) -> None:
        """A line of news (a long wait for a rate limit), under the bar at a terminal."""
        if self._bar is not None:
            self._bar.write(message, file=self.stream)
            return
        self.stream.write(message + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _postfix(summary: BatchSummary) -> str:
    return f"{summary.failed} failed, {summary.total_tokens} tokens, {summary.cost_text()}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
