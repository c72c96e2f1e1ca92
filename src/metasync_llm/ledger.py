"""The usage ledger: an observer that records every call in SQLite, and the usage report.

Off by default; on with ``METASYNC_LLM_LEDGER=/path/to/usage.db`` (every process that
discovers plugins registers it) or ``register_observer(Ledger(path))``. One row per call:
when, model, SDK, outcome, error type and status, tokens, cost, latency, time to first
chunk, attempts, finish reason, request id; never a prompt or an answer. Many threads and
processes may write at once: WAL mode, short transactions, waits on a busy database
instead of failing.

A call never waits for the ledger: rows go to a writer thread of the process, which
writes what has queued up in one transaction. An 8 s lock on the file held every async
call on the loop for 8 s while rows were written in the call's thread. Rows the writer
cannot write (a locked file past ``BUSY_TIMEOUT``, a directory, a corrupt file) are
counted in :attr:`Ledger.unwritten` and reported once (a warning of the
``metasync_llm.ledger`` logger, and ``on_trouble``); at exit the process waits up to
``BUSY_TIMEOUT`` for the rows still queued.
"""

from __future__ import annotations

import functools
import os
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import sqlite3

    from metasync_llm.events import CallEnded

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    model TEXT NOT NULL,
    sdk TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error_type TEXT,
    status INTEGER,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    cost REAL,
    currency TEXT,
    elapsed REAL NOT NULL,
    first_chunk REAL,
    attempts INTEGER NOT NULL,
    finish_reason TEXT,
    request_id TEXT,
    stream INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    route TEXT
);
CREATE INDEX IF NOT EXISTS calls_at ON calls (at);
"""
_INSERT = (
    "INSERT INTO calls (at, model, sdk, outcome, error_type, status, prompt_tokens,"
    " completion_tokens, total_tokens, cost, currency, elapsed, first_chunk, attempts,"
    " finish_reason, request_id, stream, pid, route) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
    " ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_T = TypeVar("_T")

#: Seconds a writer waits for a busy database (another process writing) before giving up.
BUSY_TIMEOUT = 30.0


class Ledger:
    """The observer that appends each call's row to the SQLite database at ``path``
    (``~`` expanded), through a writer thread (see the module docstring)."""

    #: Called once, with a one-line message, when rows could not be written (the CLI
    #: prints it on stderr); the warning is logged either way.
    on_trouble: Callable[[str], object] | None = None

    def __init__(self, path: str | os.PathLike[str]) -> None:
        import atexit  # noqa: PLC0415 - only with a ledger
        import threading  # noqa: PLC0415

        self.path = os.path.expanduser(os.fspath(path))
        #: Rows that could not be written, and why the last one could not.
        self.unwritten = 0
        self.error: str | None = None
        self._changed = threading.Condition()
        self._queued: list[tuple[Any, ...]] = []
        self._writing = 0  # rows taken by the writer, not yet written (or given up)
        self._pid: int | None = None  # the process the writer runs in (a fork needs one)
        # A forked child has no writer thread, and may inherit the condition's lock held:
        # it starts afresh (its first row starts its own writer).
        os.register_at_fork(after_in_child=functools.partial(_forked, weakref.ref(self)))
        atexit.register(self._at_exit)

    def __repr__(self) -> str:
        return f"Ledger({self.path!r})"

    def metasync_llm_call_ended(self, event: CallEnded) -> None:
        start = event.start
        row = (
            start.started,
            start.model,
            start.sdk,
            event.outcome,
            event.error_type,
            event.status,
            event.prompt_tokens,
            event.completion_tokens,
            event.total_tokens,
            event.cost,
            event.currency,
            event.elapsed,
            event.time_to_first_chunk,
            event.attempts,
            event.finish_reason,
            event.request_id,
            int(start.stream),
            os.getpid(),
            start.route,
        )
        with self._changed:
            if self._pid is None:  # the first row of this process
                self._start_writer()
            self._queued.append(row)
            self._changed.notify_all()

    def flush(self, timeout: float | None = BUSY_TIMEOUT) -> bool:
        """Wait until every row queued so far is written (or given up); ``False`` if
        ``timeout`` seconds passed first."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._queued and not self._writing, timeout=timeout
            )

    def _start_writer(self) -> None:
        import threading  # noqa: PLC0415

        self._pid = os.getpid()
        threading.Thread(target=self._write, name="metasync-llm-ledger", daemon=True).start()

    def _after_fork(self) -> None:
        """In a forked child: a new lock and queue (the parent's rows are the parent's)."""
        import threading  # noqa: PLC0415

        self._changed = threading.Condition()
        self._queued, self._writing, self._pid = [], 0, None

    def _write(self) -> None:
        connection: sqlite3.Connection | None = None
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._queued))
                rows, self._queued = self._queued, []
                self._writing = len(rows)
            try:
                if connection is None:
                    connection = connect(self.path)
                _when_free(functools.partial(_insert, connection, rows))
            except Exception as exc:
                self._trouble(len(rows), exc)
                if connection is not None:
                    connection.close()
                connection = None
            with self._changed:
                self._writing = 0
                self._changed.notify_all()

    def _trouble(self, count: int, exc: Exception) -> None:
        first = self.error is None
        self.unwritten += count
        self.error = f"{type(exc).__name__}: {exc}"
        if first:
            message = (
                f"usage ledger {self.path!r} cannot be written ({self.error}); calls are not"
                " being recorded"
            )
            from metasync_llm._log import get_logger  # noqa: PLC0415

            get_logger(__name__).warning(message)
            if self.on_trouble is not None:
                self.on_trouble(message)

    def _at_exit(self) -> None:
        if self._pid is not None and not self.flush(BUSY_TIMEOUT):
            with self._changed:
                left = len(self._queued) + self._writing
            self._trouble(left, TimeoutError(f"{left} rows still queued at exit"))


def _forked(ledger: weakref.ref[Ledger]) -> None:
    alive = ledger()
    if alive is not None:
        alive._after_fork()


def _insert(connection: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    with connection:  # one short transaction for what queued up
        connection.executemany(_INSERT, rows)


def check(path: str) -> str | None:
    """Why the ledger at ``path`` cannot be written, or ``None`` when it can (a quick
    look, for the command line: a directory, not SQLite, corrupt, unwritable)."""
    import sqlite3  # noqa: PLC0415

    try:
        connect(os.path.expanduser(path)).close()
    except (OSError, sqlite3.Error) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def connect(path: str, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection to the ledger at ``path`` (created, with its table, unless read-only)."""
    import sqlite3  # noqa: PLC0415 - only with a ledger

    if read_only:
        uri = Path(path).resolve().as_uri() + "?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return _when_free(
        lambda: _set_up(sqlite3.connect(path, timeout=BUSY_TIMEOUT, check_same_thread=False))
    )


def _set_up(connection: sqlite3.Connection) -> sqlite3.Connection:
    try:
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
        connection.execute("PRAGMA journal_mode = WAL")  # readers and writers do not block
        connection.execute("PRAGMA synchronous = NORMAL")  # durable at each checkpoint, in WAL
        connection.executescript(_SCHEMA)
        columns = {row[1] for row in connection.execute("PRAGMA table_info(calls)")}
        if "route" not in columns:  # a ledger written before routes: one more column
            connection.execute("ALTER TABLE calls ADD COLUMN route TEXT")
    except BaseException:
        connection.close()
        raise
    return connection


def _when_free(action: Callable[[], _T]) -> _T:
    """``action()``, run again while SQLite says the database is busy or locked.

    The busy timeout does not cover every case: processes that create the database at
    once race to switch it to WAL and create the table, and SQLite answers some of them
    "database is locked" at once rather than waiting (12 processes started together lost
    rows in 2 runs of 25 before this; none in 25 after). Gives up after ``BUSY_TIMEOUT``.
    """
    import sqlite3  # noqa: PLC0415
    import time  # noqa: PLC0415

    deadline = time.monotonic() + BUSY_TIMEOUT
    delay = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
            if code not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            if time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


# -- the report ------------------------------------------------------------------------

GROUPS = ("model", "sdk", "day")


@dataclass
class UsageRow:
    """The usage of one group of calls (a model, an SDK, a day)."""

    key: str
    calls: int = 0
    failed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: dict[str, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    #: Tries of routed calls that failed here (the router moved on, or gave up).
    fallbacks: int = 0

    def percentile(self, p: float) -> float | None:
        """The ``p`` quantile (0-1) of the calls' latency, nearest rank."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "calls": self.calls,
            "failed": self.failed,
            "failures": dict(self.failures),
            "fallbacks": self.fallbacks,
            "tokens": {
                "prompt": self.prompt_tokens,
                "completion": self.completion_tokens,
                "total": self.total_tokens,
            },
            "cost": {currency: round(amount, 10) for currency, amount in self.cost.items()},
            "latency": {
                "p50": self.percentile(0.5),
                "p90": self.percentile(0.9),
                "p99": self.percentile(0.99),
            },
        }


def usage(path: str, *, since: datetime | None = None, by: str = "model") -> list[UsageRow]:
    """The ledger's calls since ``since`` (all without), grouped ``by`` model, sdk or day."""
    if by not in GROUPS:
        raise ValueError(f"by must be one of {', '.join(GROUPS)}, got {by!r}")
    import sqlite3  # noqa: PLC0415

    path = os.path.expanduser(path)
    if not Path(path).exists():
        raise FileNotFoundError(f"no usage ledger at {path!r} (set METASYNC_LLM_LEDGER)")
    if Path(path).is_dir():
        raise ValueError(f"{path!r} is a directory, not a usage ledger")
    args: tuple[Any, ...] = ()
    rows: dict[str, UsageRow] = {}
    try:
        connection = connect(path, read_only=True)
        try:
            columns = {row[1] for row in connection.execute("PRAGMA table_info(calls)")}
        except BaseException:
            connection.close()
            raise
        # A ledger written before routes has no route column: none of its calls was routed.
        route = "route" if "route" in columns else "NULL"
        query = (
            "SELECT at, model, sdk, outcome, error_type, prompt_tokens, completion_tokens,"
            f" total_tokens, cost, currency, elapsed, {route} FROM calls"
        )
        if since is not None:
            query += " WHERE at >= ?"
            args = (since.timestamp(),)
        _read(connection, query, args, by, rows)
    except sqlite3.DatabaseError as exc:  # not SQLite, corrupt, no table of calls
        raise ValueError(f"{path!r} is not a readable usage ledger ({exc})") from None
    return [rows[key] for key in sorted(rows)]


def _read(
    connection: sqlite3.Connection,
    query: str,
    args: tuple[Any, ...],
    by: str,
    rows: dict[str, UsageRow],
) -> None:
    try:
        for (
            at,
            model,
            sdk,
            outcome,
            error,
            prompt,
            completion,
            total,
            cost,
            currency,
            elapsed,
            route,
        ) in connection.execute(query + " ORDER BY at", args):
            if by == "day":
                key = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")
            else:
                key = model if by == "model" else sdk
            row = rows.setdefault(key, UsageRow(key))
            row.calls += 1
            if outcome != "ok":
                row.failed += 1
                row.failures[error or outcome] += 1
                row.fallbacks += route is not None
            row.prompt_tokens += prompt or 0
            row.completion_tokens += completion or 0
            row.total_tokens += total or 0
            if cost is not None:
                row.cost[currency or ""] = row.cost.get(currency or "", 0.0) + cost
            row.latencies.append(elapsed)
    finally:
        connection.close()


def parse_since(text: str) -> datetime:
    """``--since``: an ISO date or time (UTC unless it says), or ``7d``, ``12h``, ``30m``."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[-1:] in units and text[:-1].isdigit():
        try:
            return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
        except OverflowError:
            raise ValueError(f"--since {text!r} reaches before the year 1") from None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since takes a date (2026-12-01), a time (2026-12-01T09:30) or an age (7d, 12h,"
            f" 30m), got {text!r}"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def render(rows: list[UsageRow], by: str) -> str:
    """The report as a table."""
    header = f"{by.upper():<28} {'CALLS':>7} {'FAILED':>7} {'TOKENS IN':>10} {'OUT':>9}"
    header += f" {'COST':>14} {'P50':>8} {'P90':>8} {'P99':>8}  FAILURES"
    lines = [header]

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}s"

    for row in rows:
        cost = ", ".join(f"{a:.6f} {c}".strip() for c, a in row.cost.items()) or "-"
        failures = ", ".join(f"{kind} {n}" for kind, n in row.failures.most_common())
        if row.fallbacks:
            failures += f" ({row.fallbacks} in routes)"
        lines.append(
            f"{row.key[:28]:<28} {row.calls:>7} {row.failed:>7} {row.prompt_tokens:>10}"
            f" {row.completion_tokens:>9} {cost:>14} {seconds(row.percentile(0.5)):>8}"
            f" {seconds(row.percentile(0.9)):>8} {seconds(row.percentile(0.99)):>8}  {failures}"
        )
    if not rows:
        lines.append("(no calls)")
    return "\n".join(lines)


__all__ = ["Ledger", "UsageRow", "connect", "parse_since", "render", "usage"]
