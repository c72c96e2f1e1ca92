"""Observers: the call events, their isolation, how observers are found, and the ledger."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from plugin_distributions import Dist, pip_install, write_project

import metasync_llm as msl
from metasync_llm import (
    PluginRegistry,
    acomplete_with_model,
    astream_with_model,
    complete_with_model,
    stream_with_model,
)
from metasync_llm.cli import main as cli
from metasync_llm.events import CallContent, CallEnded, CallRetry, CallStarted, FirstChunk
from metasync_llm.ledger import Ledger, usage
from metasync_llm.observers import register_observer, unregister_observer
from metasync_llm.registry import LEDGER_ENV

MODEL = {
    "name": "echo",
    "sdk": "test",
    "deployment": "echo",
    "cost": {"tokens": 1000, "currency": "USD", "input": 1, "output": 2},
}


class Recorder:
    """An observer keeping every event (content too: it implements that hook)."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def metasync_llm_call_started(self, event: CallStarted) -> None:
        self.events.append(event)

    def metasync_llm_call_first_chunk(self, event: FirstChunk) -> None:
        self.events.append(event)

    def metasync_llm_call_retry(self, event: CallRetry) -> None:
        self.events.append(event)

    def metasync_llm_call_content(self, event: CallContent) -> None:
        self.events.append(event)

    def metasync_llm_call_ended(self, event: CallEnded) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class EndsOnly:
    """An observer of ends only: it never receives content."""

    def __init__(self) -> None:
        self.ended: list[CallEnded] = []

    def metasync_llm_call_ended(self, event: CallEnded) -> None:
        self.ended.append(event)


@pytest.fixture
def registry() -> PluginRegistry:
    """A registry of the test SDK without the observers installed here (OpenTelemetry's)."""
    registry = PluginRegistry(allow={"test"})
    for name in list(registry.discovery().observers):
        unregister_observer(name, registry=registry)
    return registry


def test_a_blocking_call_starts_and_ends_with_its_usage_and_cost(registry: PluginRegistry) -> None:
    recorder, ends = Recorder(), EndsOnly()
    register_observer(recorder, registry=registry)
    register_observer(ends, registry=registry)
    result = complete_with_model(MODEL, "Be brief.", "hello there", registry=registry)
    [started] = recorder.of(CallStarted)
    [ended] = recorder.of(CallEnded)
    assert (started.model, started.sdk, started.deployment, started.stream) == (
        "echo",
        "test",
        "echo",
        False,
    )
    assert (started.temperature, started.max_tokens, started.asynchronous) == (1, 4096, False)
    assert ended.start is started and ended.outcome == "ok"
    assert (ended.prompt_tokens, ended.completion_tokens, ended.total_tokens) == result.usage
    assert result.cost is not None and ended.cost == result.cost.total
    assert (ended.currency, ended.attempts, ended.finish_reason) == ("USD", 1, "stop")
    assert ended.elapsed == result.elapsed and ended.error_type is None
    [content] = recorder.of(CallContent)  # the recorder opted in by implementing the hook
    assert content.system_prompt == "Be brief." and content.answer == "hello there"
    assert content.messages == (("user", "hello there"),)
    assert len(ends.ended) == 1 and not hasattr(ends.ended[0], "answer")


def test_retries_and_errors_are_visible(registry: PluginRegistry) -> None:
    recorder = Recorder()
    register_observer(recorder, registry=registry)
    model = {
        **MODEL,
        "test": {"error": "rate_limit", "retryAfter": 0.01},
        "retry": {"attempts": 3},
    }
    with pytest.raises(msl.RateLimitError):
        complete_with_model(model, "", "hi", registry=registry)
    retries = recorder.of(CallRetry)
    assert [r.attempt for r in retries] == [1, 2]
    assert {(r.error_type, r.status, r.delay) for r in retries} == {("RateLimitError", 429, 0.01)}
    [ended] = recorder.of(CallEnded)
    assert (ended.outcome, ended.error_type, ended.status, ended.attempts) == (
        "error",
        "RateLimitError",
        429,
        3,
    )


def test_streams_report_the_first_chunk_and_how_they_ended(registry: PluginRegistry) -> None:
    recorder = Recorder()
    register_observer(recorder, registry=registry)
    with stream_with_model(MODEL, "", "one two three", registry=registry) as stream:
        assert "".join(stream) == "one two three"
    [first] = recorder.of(FirstChunk)
    [ended] = recorder.of(CallEnded)
    assert ended.outcome == "ok" and ended.start.stream
    assert ended.time_to_first_chunk == stream.result.time_to_first_chunk == first.seconds

    slow = {**MODEL, "test": {"chunkDelay": 0.01}}
    stream = stream_with_model(slow, "", "a b c d e f", registry=registry)
    next(stream)
    stream.close()
    closed = recorder.of(CallEnded)[-1]
    assert (closed.outcome, closed.error_type) == ("closed", None)
    assert recorder.of(CallContent)[-1].answer == "a "


def test_async_calls_and_a_cancelled_stream(registry: PluginRegistry) -> None:
    recorder = Recorder()
    register_observer(recorder, registry=registry)
    slow = {**MODEL, "test": {"chunkDelay": 0.05}}

    async def run() -> None:
        await acomplete_with_model(MODEL, "", "hi", registry=registry)
        stream = await astream_with_model(slow, "", "a b c d e f g h", registry=registry)
        first = asyncio.Event()

        async def consume() -> None:
            async for _ in stream:
                first.set()

        task = asyncio.create_task(consume())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    done, cancelled = recorder.of(CallEnded)
    assert done.outcome == "ok" and done.start.asynchronous
    assert (cancelled.outcome, cancelled.error_type) == ("cancelled", "CancelledError")


class Raising:
    def metasync_llm_call_started(self, event: CallStarted) -> None:
        raise RuntimeError("observer bug")

    def metasync_llm_call_ended(self, event: CallEnded) -> None:
        raise ValueError("another observer bug")


class Slow:
    def metasync_llm_call_started(self, event: CallStarted) -> None:
        time.sleep(0.2)


def test_an_observer_that_raises_or_is_slow_changes_nothing(
    registry: PluginRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    register_observer(Raising(), registry=registry)
    register_observer(Slow(), registry=registry)
    register_observer(recorder, registry=registry)
    caplog.set_level(logging.WARNING, "metasync_llm")
    results = [complete_with_model(MODEL, "", "hi", registry=registry) for _ in range(3)]
    assert all(r.text == "hi" for r in results)
    assert all(r.elapsed < 0.1 for r in results)  # the slow observer's time is not the call's
    assert len(recorder.of(CallEnded)) == 3  # the others still get every event
    warnings = [r.getMessage() for r in caplog.records if "observer" in r.getMessage()]
    assert len(warnings) == 2  # once per observer and hook, not per call
    assert "RuntimeError" in warnings[0] and "metasync_llm_call_started" in warnings[0]


def test_registering_in_code_checks_the_observer_and_survives_a_refresh(
    registry: PluginRegistry,
) -> None:
    with pytest.raises(ValueError, match="none of the observer hooks"):
        register_observer(object(), registry=registry)

    class WrongArguments:
        def metasync_llm_call_ended(self, event: CallEnded, extra: int) -> None: ...

    with pytest.raises(ValueError, match="spec"):
        register_observer(WrongArguments(), registry=registry)
    ends = EndsOnly()
    name = register_observer(ends, name="mine", registry=registry)
    assert name == "mine" and "mine" in registry.discovery().observers
    registry.refresh()
    complete_with_model(MODEL, "", "hi", registry=registry)
    assert len(ends.ended) == 1
    unregister_observer("mine", registry=registry)
    complete_with_model(MODEL, "", "hi", registry=registry)
    assert len(ends.ended) == 1 and "mine" not in registry.discovery().observers


def test_without_observers_calls_carry_no_watch(registry: PluginRegistry) -> None:
    from metasync_llm._pipeline._prepare import prepare

    call = prepare(MODEL, "", "hi", 1, None, False, registry)
    assert call.observers is None and not registry.discovery().observed


# -- observers from installed distributions ---------------------------------------------

GOOD_OBSERVER = """\
import json, os

class Writer:
    def metasync_llm_call_ended(self, event):
        with open(os.environ["MSL_OBSERVED"], "a") as f:
            f.write(json.dumps([event.model, event.outcome]) + "\\n")
"""
OBSERVER_DISTS = [
    Dist(
        "msl-observer",
        "msl_observer",
        GOOD_OBSERVER,
        {"writer": "msl_observer:Writer"},
        group="metasync_llm.observers",
    ),
    Dist(
        "msl-observer-broken",
        "msl_observer_broken",
        "import msl_no_such_module  # noqa\n",
        {"broken": "msl_observer_broken:Observer"},
        group="metasync_llm.observers",
    ),
    Dist(
        "msl-observer-empty",
        "msl_observer_empty",
        "class Nothing:\n    pass\n",
        {"empty": "msl_observer_empty:Nothing"},
        group="metasync_llm.observers",
    ),
]


@pytest.fixture(scope="module")
def observer_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    projects = tmp_path_factory.mktemp("observer-projects")
    site = tmp_path_factory.mktemp("observer-site")
    pip_install([write_project(projects, dist) for dist in OBSERVER_DISTS], site)
    return site


def test_installed_observers_are_found_and_broken_ones_reported(
    observer_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(observer_site))
    monkeypatch.setenv("MSL_OBSERVED", str(tmp_path / "observed.jsonl"))
    registry = PluginRegistry(path=[str(observer_site), *sys.path], allow={"test"})
    found = registry.discovery()
    assert found.observers["writer"].distribution == "msl-observer"
    kinds = {f.plugin.name: f.kind for f in found.failures}
    assert kinds == {"broken": "import-error", "empty": "not-an-observer"}
    complete_with_model(MODEL, "", "hi", registry=registry)
    assert (tmp_path / "observed.jsonl").read_text() == '["echo", "ok"]\n'
    # The command line reports a broken observer as it reports a broken SDK.
    env = {"PYTHONPATH": str(observer_site), "METASYNC_LLM_SDKS": "test"}
    done = subprocess.run(
        [sys.executable, "-m", "metasync_llm", "sdks", "--check"],
        capture_output=True,
        text=True,
        env={**_environ(), **env},
        check=False,
    )
    assert done.returncode == 1
    assert "writer (msl-observer 1.0)" in done.stdout
    assert "broken (msl-observer-broken 1.0) [import-error]" in done.stdout
    assert "empty (msl-observer-empty 1.0) [not-an-observer]" in done.stdout


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


# -- the usage ledger ------------------------------------------------------------------

WRITER = """\
import logging
import sys
import time
import metasync_llm as m
logging.basicConfig(level=logging.WARNING)  # a row the ledger cannot write is reported
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # every writer starts at once
model = {"name": "echo", "sdk": "test", "deployment": "echo",
         "cost": {"tokens": 1000, "currency": "USD", "input": 1, "output": 2}}
failing = {**model, "name": "broken", "test": {"error": "server"}, "retry": {"attempts": 1}}
for i in range(int(sys.argv[1])):
    m.complete_with_model(model, "", "one two")
    try:
        m.complete_with_model(failing, "", "x")
    except m.ServerError:
        pass
"""


def test_the_ledger_keeps_every_call_of_eight_processes(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    env = {**_environ(), LEDGER_ENV: str(db), "METASYNC_LLM_SDKS": "test"}
    # Eight processes open (and race to create) the database at the same moment.
    start = str(time.time() + 3)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, "40", start], env=env, stderr=subprocess.PIPE, text=True
        )
        for _ in range(8)
    ]
    for writer in writers:
        _, errors = writer.communicate(timeout=120)
        assert writer.returncode == 0 and errors == "", errors
    rows = {row.key: row for row in usage(str(db))}
    assert rows["echo"].calls == 320 and rows["echo"].failed == 0
    assert rows["broken"].calls == 320 and rows["broken"].failures == {"ServerError": 320}
    assert rows["echo"].prompt_tokens == 640 and rows["echo"].completion_tokens == 640
    assert rows["echo"].cost == {"USD": pytest.approx(320 * 0.006)}

    out = io.StringIO()
    assert cli(["usage", "--db", str(db), "--json"], stdout=out) == 0
    report = {row["key"]: row for row in json.loads(out.getvalue())}
    assert report["echo"]["tokens"] == {"prompt": 640, "completion": 640, "total": 1280}
    assert report["broken"]["failures"] == {"ServerError": 320}
    assert report["echo"]["latency"]["p50"] is not None
    out = io.StringIO()
    assert cli(["usage", "--db", str(db), "--by", "sdk"], stdout=out) == 0
    assert out.getvalue().splitlines()[1].split()[:3] == ["test", "640", "320"]
    out = io.StringIO()
    assert cli(["usage", "--db", str(db), "--since", "1h", "--by", "day"], stdout=out) == 0
    assert " 640 " in out.getvalue()
    out = io.StringIO()
    assert cli(["usage", "--db", str(db), "--since", "2999-01-01"], stdout=out) == 0
    assert "(no calls)" in out.getvalue()


def test_the_ledger_in_code_and_its_command_line_errors(tmp_path: Path) -> None:
    registry = PluginRegistry(allow={"test"})
    ledger = Ledger(tmp_path / "code.db")
    register_observer(ledger, registry=registry)
    complete_with_model(MODEL, "", "hi", registry=registry)
    assert ledger.flush(timeout=30)  # rows are written by the ledger's own thread
    assert usage(str(tmp_path / "code.db"))[0].calls == 1
    err = io.StringIO()
    assert cli(["usage", "--db", str(tmp_path / "none.db")], stderr=err) == 2
    assert "no usage ledger" in err.getvalue()
    err = io.StringIO()
    assert cli(["usage", "--db", str(tmp_path / "code.db"), "--since", "soon"], stderr=err) == 2
    assert "--since takes" in err.getvalue()


# -- the ledger when its file is locked or broken -------------------------------------------


def test_a_locked_ledger_never_holds_the_calls(tmp_path: Path) -> None:
    """Another process holds the database for 3 s: calls go on; rows arrive afterwards."""
    import sqlite3

    db = tmp_path / "usage.db"
    ledger = Ledger(db)
    registry = PluginRegistry(allow={"test"})
    register_observer(ledger, registry=registry)
    complete_with_model(MODEL, "", "first", registry=registry)
    assert ledger.flush(timeout=30)
    holder = sqlite3.connect(db, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")

    async def calls() -> list[float]:
        async def one() -> float:
            started = time.perf_counter()
            await msl.acomplete_with_model(MODEL, "", "hi", registry=registry)
            return time.perf_counter() - started

        return list(await asyncio.gather(*(one() for _ in range(20))))

    try:
        durations = asyncio.run(calls())
        started = time.perf_counter()
        complete_with_model(MODEL, "", "blocking", registry=registry)
        durations.append(time.perf_counter() - started)
        assert max(durations) < 1.0, durations  # the lock lasts 3 s
        time.sleep(3)
    finally:
        holder.rollback()
        holder.close()
    assert ledger.flush(timeout=30) and ledger.unwritten == 0
    assert usage(str(db))[0].calls == 22


@pytest.mark.parametrize("kind", ["directory", "not SQLite", "corrupt"])
def test_a_broken_ledger_is_said_once_and_usage_refuses_it(tmp_path: Path, kind: str) -> None:
    broken = tmp_path / "usage.db"
    if kind == "directory":
        broken.mkdir()
    elif kind == "not SQLite":
        broken.write_text("just some notes\n" * 100)
    else:
        sqlite_header = b"SQLite format 3\x00"
        broken.write_bytes(sqlite_header + b"\xff" * 4000)
    env = {**_environ(), LEDGER_ENV: str(broken), "METASYNC_LLM_SDKS": "test"}
    done = subprocess.run(
        [sys.executable, "-m", "metasync_llm", "complete", "hi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and '"user_content": "hi"' in done.stdout
    trouble = [line for line in done.stderr.splitlines() if "usage ledger" in line]
    assert len(trouble) == 1, done.stderr
    assert "cannot be written" in trouble[0] and "Traceback" not in done.stderr
    err = io.StringIO()
    assert cli(["usage", "--db", str(broken)], stderr=err) == 2
    assert err.getvalue().count("\n") == 1 and "usage ledger" in err.getvalue()


def test_usage_refuses_an_age_before_year_one_and_expands_home(tmp_path: Path) -> None:
    err = io.StringIO()
    db = tmp_path / "u.db"
    registry = PluginRegistry(allow={"test"})
    ledger = Ledger(db)
    register_observer(ledger, registry=registry)
    complete_with_model(MODEL, "", "hi", registry=registry)
    assert ledger.flush(timeout=30)
    assert cli(["usage", "--db", str(db), "--since", "999999999d"], stderr=err) == 2
    assert "before the year 1" in err.getvalue() and err.getvalue().count("\n") == 1
    env = {**_environ(), "HOME": str(tmp_path), LEDGER_ENV: "~/home.db"}
    env["METASYNC_LLM_SDKS"] = "test"
    subprocess.run(
        [sys.executable, "-m", "metasync_llm", "complete", "hi", "-q"],
        env=env,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert usage(str(tmp_path / "home.db"))[0].calls == 1


# -- observers cannot change a call's outcome; abandoned streams still end -----------------


class _Exiting:
    def __init__(self, kind: type[BaseException]) -> None:
        self.kind = kind

    def metasync_llm_call_ended(self, event: CallEnded) -> None:
        raise self.kind("from the observer")


@pytest.mark.parametrize("kind", [SystemExit, asyncio.CancelledError, GeneratorExit])
def test_an_observer_raising_exit_or_cancellation_keeps_the_paid_result(
    registry: PluginRegistry, kind: type[BaseException]
) -> None:
    register_observer(_Exiting(kind), registry=registry)
    assert complete_with_model(MODEL, "", "hi", registry=registry).text == "hi"

    async def twice() -> str:
        return (await msl.acomplete_with_model(MODEL, "", "hi", registry=registry)).text

    assert asyncio.run(twice()) == "hi"


def test_async_streams_entered_by_hand_and_dropped_still_end(registry: PluginRegistry) -> None:
    import gc

    recorder = EndsOnly()
    register_observer(recorder, registry=registry)
    slow = {**MODEL, "test": {"chunkDelay": 0.01}}

    async def abandon() -> None:
        for _ in range(50):
            stream = await msl.astream_with_model(slow, "", "one two three", registry=registry)
            await stream.__aenter__()
            await stream.__anext__()  # one chunk read, then the stream is dropped
            del stream

    asyncio.run(abandon())
    gc.collect()
    assert len(recorder.ended) == 50
    assert {event.outcome for event in recorder.ended} == {"closed"}


def test_a_forked_child_records_its_own_calls(tmp_path: Path) -> None:
    """A fork has no writer thread, and the parent's lock may be held: the child starts
    afresh and its rows are written too (a pre-fork server, multiprocessing's fork)."""
    import os
    import warnings

    db = tmp_path / "usage.db"
    registry = PluginRegistry(allow={"test"})
    ledger = Ledger(db)
    register_observer(ledger, registry=registry)
    complete_with_model(MODEL, "", "parent", registry=registry)
    with warnings.catch_warnings():  # 3.12+ warns about fork with threads: that is the case
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child
        try:
            complete_with_model(MODEL, "", "child", registry=registry)
            os._exit(0 if ledger.flush(timeout=30) and ledger.unwritten == 0 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert ledger.flush(timeout=30)
    assert usage(str(db))[0].calls == 2
