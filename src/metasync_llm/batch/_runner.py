"""The local engine of a batch job: many calls at once on one asyncio loop, within limits."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import io
import itertools
import time
from collections.abc import (
    AsyncIterable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeVar

from metasync_llm._log import get_logger
from metasync_llm.batch._calls import call, problem_row, unexpected_row
from metasync_llm.batch._ids import IdSet
from metasync_llm.batch._limits import Limiter
from metasync_llm.batch._output import Output
from metasync_llm.batch._progress import Progress
from metasync_llm.batch._requests import BatchRequest, Catalog, InputProblem, parse_request
from metasync_llm.batch._summary import BatchSummary
from metasync_llm.registry import PluginRegistry

_log = get_logger(__name__)

#: Input lines read per trip to the reading thread (a pipe must not block the loop).
READ_AHEAD = 256

Requests = Iterable[BatchRequest | Mapping[str, Any] | str] | AsyncIterable[Any] | str | Path
RowCallback = Callable[[dict[str, Any]], object]
_P = ParamSpec("_P")
_T = TypeVar("_T")


async def arun_batch(
    requests: Requests,
    catalog: Sequence[Mapping[str, Any]] | Catalog,
    output: str | Path | IO[str] | None = None,
    *,
    on_result: RowCallback | None = None,
    on_problem: Callable[[InputProblem], object] | None = None,
    concurrency: int = 64,
    resume: bool = False,
    retry_failed: bool = False,
    overwrite: bool = False,
    rate_limit_retries: int = 10,
    progress: Progress | None = None,
    registry: PluginRegistry | None = None,
    summary: BatchSummary | None = None,
) -> BatchSummary:
    """Run every request through its catalog model, ``concurrency`` calls at a time.

    ``requests``: a JSON Lines file's path, or any (async) iterable of request lines,
    mappings or :class:`BatchRequest`; read as the job goes, never all at once. Each
    request's output row goes to ``output`` (a path: JSON Lines, one complete line per row,
    written as calls finish; or an open text stream) and to ``on_result``. Bad requests
    become error rows (and go to ``on_problem``); an invalid ``catalog`` raises
    :class:`~metasync_llm.errors.ConfigurationError` before any call. ``resume`` skips the
    ids the output already has; ``retry_failed`` also runs again those that failed with a
    retryable error. A model's ``rateLimit`` holds for the whole job; a 429 pauses that
    model for every call (its ``Retry-After``), up to ``rate_limit_retries`` times a request.
    ``summary``: the :class:`BatchSummary` to count rows in (a new one by default); the
    totals stay readable when the job is interrupted.

    Each row of ``requests`` ends as a row of the output, whatever happens in its call.
    The job stops at once with :class:`~metasync_llm.batch.OutputError` when the output
    cannot be written (rows written so far are whole: ``resume`` continues), and with
    ``OutputLockedError`` before any call when another job holds the output file.
    """
    if not isinstance(catalog, Catalog):
        catalog = Catalog(catalog, registry)
    summary = summary if summary is not None else BatchSummary()
    out = Output(
        output,
        resume=resume,
        retry_failed=retry_failed,
        overwrite=overwrite,
        on_row=on_result,
        on_kept=lambda row: summary.add(row, resumed=True),
    )
    job = _Job(catalog, out, summary, progress, on_problem, rate_limit_retries)
    try:
        await job.run(requests, concurrency)
    except (asyncio.CancelledError, KeyboardInterrupt):
        summary.interrupted = True
        raise
    finally:
        summary.finished = time.monotonic()
        out.close()
        if progress is not None:
            progress.close()
    return summary


def _blocking(job: Callable[_P, Coroutine[Any, Any, _T]], name: str, doc: str) -> Callable[_P, _T]:
    """The blocking twin of the coroutine function ``job``: the same parameters (for type
    checkers and ``inspect.signature``, written once), run to the end on a new event loop."""

    @functools.wraps(job)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        return asyncio.run(job(*args, **kwargs))

    run.__name__ = run.__qualname__ = name
    run.__doc__ = doc
    return run


run_batch = _blocking(
    arun_batch,
    "run_batch",
    "Run a batch job and return its summary; :func:`arun_batch` describes the arguments.",
)


class _Job:
    def __init__(
        self,
        catalog: Catalog,
        output: Output,
        summary: BatchSummary,
        progress: Progress | None,
        on_problem: Callable[[InputProblem], object] | None,
        rate_limit_retries: int,
    ) -> None:
        self.catalog = catalog
        self.output = output
        self.summary = summary
        self.progress = progress
        self.on_problem = on_problem
        self.rate_limit_retries = rate_limit_retries
        self.limiter = Limiter(
            {name: model.settings.rate_limit for name, model in catalog.models.items()},
            on_wait=self._waiting,
        )
        # Rate limits are the job's to pace: a 429 ends the call, and the job pauses the model.
        self.policies = {
            name: dataclasses.replace(model.settings.retry, retry_rate_limits=False)
            for name, model in catalog.models.items()
        }
        self.warm: dict[str, asyncio.Future[None]] = {}

    async def run(self, requests: Requests, concurrency: int) -> None:
        """Read the input into ``concurrency`` workers; return when every row is out.

        The reader and the workers are one task group: when one of them fails (the output
        cannot be written, the caller's callback raises), the others are cancelled and the
        error is raised here, instead of the reader waiting forever for a dead worker.
        """
        queue: asyncio.Queue[BatchRequest | None] = asyncio.Queue(maxsize=concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(concurrency):
                    group.create_task(self._worker(queue))
                await self.read(requests, queue)
                for _ in range(concurrency):
                    await queue.put(None)
        except BaseExceptionGroup as failed:
            # One cause stops the job; the others are the cancellations it caused.
            raise failed.exceptions[0] from None

    async def read(self, requests: Requests, queue: Any) -> None:
        """Parse the input: each request to run into ``queue`` (``await queue.put``), each
        bad line out as an error row; ids the output has are skipped, duplicates refused."""
        done, seen = self.output.done, IdSet()
        # Attachment paths are relative to the input file (else to the working folder).
        folder = Path(requests).parent if isinstance(requests, str | Path) else None
        async for number, item in _numbered(requests):
            parsed = parse_request(item, number, self.catalog)
            if folder is not None and isinstance(parsed, BatchRequest) and parsed.attachments:
                found = tuple(str(folder / path) for path in parsed.attachments)
                parsed = dataclasses.replace(parsed, attachments=found)
            key = parsed.key
            if key in done:
                continue
            if parsed.id is not None:
                if isinstance(parsed, BatchRequest) and key in seen:
                    parsed = InputProblem(number, f"duplicate id {parsed.id!r}", type="DuplicateId")
                    if parsed.key in done:
                        continue
                seen.add(key)
            if isinstance(parsed, InputProblem):
                if self.on_problem is not None:
                    self.on_problem(parsed)
                self.emit(problem_row(parsed))
            else:
                await queue.put(parsed)

    def _waiting(self, model: str, seconds: float, why: str) -> None:
        """A call waits long for a limit: say so, where the job shows its progress."""
        if self.progress is not None:
            self.progress.note(f"batch: model {model!r} waits {seconds:.0f}s for {why}")

    def emit(self, row: dict[str, Any]) -> None:
        """A finished row: to the output, the summary and the progress display."""
        self.output.write(row)
        self.summary.add(row)
        if self.progress is not None:
            self.progress.update(self.summary)

    async def _worker(self, queue: asyncio.Queue[BatchRequest | None]) -> None:
        while (request := await queue.get()) is not None:
            try:
                row = await call(
                    request,
                    self.catalog,
                    self.limiter,
                    self.policies,
                    self.rate_limit_retries,
                    self.warm,
                )
            except Exception as exc:  # every line ends as a row, whatever it met
                _log.warning("batch: request %r failed unexpectedly", request.id, exc_info=True)
                row = unexpected_row(request, exc)
            self.emit(row)


async def _numbered(requests: Requests) -> Any:
    """``(line number, item)`` of the input, read ahead in a thread (files, pipes).

    Files and text streams with a byte buffer (stdin) are read as bytes split on ``\\n``
    alone: a line that is not UTF-8 becomes an error row (``parse_request`` decodes it),
    a bare CR stays inside its line, and a UTF-8 byte order mark before line 1 is dropped.
    """
    if isinstance(requests, str | Path):
        with open(requests, "rb") as file:
            async for pair in _from_iterator(_without_bom(file)):
                yield pair
        return
    if isinstance(requests, AsyncIterable):
        number = 0
        async for item in requests:
            number += 1
            yield number, item
        return
    if isinstance(requests, io.TextIOBase):
        buffer = getattr(requests, "buffer", None)
        stream = buffer if isinstance(buffer, io.BufferedIOBase) else requests  # bytes first
        async for pair in _from_iterator(_without_bom(stream)):
            yield pair
        return
    async for pair in _from_iterator(enumerate(requests, start=1)):
        yield pair


def _without_bom(lines: Iterable[Any]) -> Iterator[tuple[int, Any]]:
    """Numbered lines of a file or stream, a byte order mark before line 1 dropped."""
    for number, line in enumerate(lines, start=1):
        if number == 1 and isinstance(line, bytes):
            yield number, line.removeprefix(b"\xef\xbb\xbf")
        elif number == 1 and isinstance(line, str):
            yield number, line.removeprefix("\ufeff")
        else:
            yield number, line


async def _from_iterator(pairs: Iterator[tuple[int, Any]]) -> Any:
    while chunk := await asyncio.to_thread(lambda: list(itertools.islice(pairs, READ_AHEAD))):
        for number, item in chunk:
            if isinstance(item, str | bytes) and not item.strip():
                continue  # blank lines are not requests
            yield number, item
