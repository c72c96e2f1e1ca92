"""Batch jobs on the local engine: rows, bad lines, resume, rate limits, progress, the API.

Jobs run through the offline test SDK, or through the OpenAI plugin against a stand-in API
in a process of its own (``batch_server.py``), which logs every request it gets; a job is
killed with SIGKILL at random moments and resumed.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_server import StandIn

import metasync_llm as msl
from metasync_llm._model import RateLimit
from metasync_llm.batch import BatchRequest, arun_batch, run_batch
from metasync_llm.batch._limits import ModelLimiter
from metasync_llm.cli import main as cli
from metasync_llm.registry import ALLOW_ENV

HERE = Path(__file__).parent
ECHO = {
    "name": "echo",
    "sdk": "test",
    "deployment": "echo",
    "cost": {"tokens": 1000, "currency": "USD", "input": 1, "output": 2},
}
SHAPED = {"name": "shaped", "sdk": "test", "deployment": "json"}
CATALOG = [ECHO, SHAPED]


def lines(*items: object) -> str:
    return "".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items)


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def batch(tmp_path: Path, *args: str, catalog: object = CATALOG) -> tuple[int, str, str]:
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    out, err = io.StringIO(), io.StringIO()
    code = cli(
        ["batch", *args, "--catalog", str(tmp_path / "catalog.json")], stdout=out, stderr=err
    )
    return code, out.getvalue(), err.getvalue()


# -- rows -------------------------------------------------------------------------------


def test_every_request_gets_one_row_with_its_result(tmp_path: Path) -> None:
    schema = {"type": "object", "properties": {"c": {"type": "string"}}, "required": ["c"]}
    (tmp_path / "in.jsonl").write_text(
        lines(
            {"id": "a", "model": "echo", "user": "hello there", "metadata": {"row": 1}},
            {"id": 2, "model": "echo", "messages": [{"role": "user", "content": "hi"}]},
            {"id": "s", "model": "shaped", "user": "a colour", "schema": schema},
            {"id": "t", "model": "echo", "user": "one two three", "max_tokens": 2},
        )
    )
    code, _, err = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"))
    assert code == 0, err
    by_id = {row["id"]: row for row in rows(tmp_path / "out.jsonl")}
    assert set(by_id) == {"a", 2, "s", "t"}
    a = by_id["a"]
    assert (a["text"], a["model"], a["finish_reason"], a["error"], a["line"]) == (
        "hello there",
        "echo",
        "stop",
        None,
        1,
    )
    assert a["usage"] == {"prompt": 2, "completion": 2, "total": 4}
    assert a["cost"] == {"input": 0.002, "output": 0.004, "total": 0.006, "currency": "USD"}
    assert a["metadata"] == {"row": 1} and a["attempts"] == 1 and a["elapsed"] >= 0
    assert by_id[2]["text"] == "hi"
    assert by_id["s"]["data"] == json.loads(by_id["s"]["text"]) and "c" in by_id["s"]["data"]
    assert by_id["t"]["finish_reason"] == "length"
    assert "4 rows (0 from earlier runs), 0 failed" in err


def test_bad_lines_become_error_rows_and_never_stop_the_job(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(
        lines(
            {"id": "ok1", "model": "echo", "user": "fine"},
            "not json {",
            {"model": "echo", "user": "no id"},
            {"id": "ok1", "model": "echo", "user": "again"},
            {"id": "m", "model": "nope", "user": "unknown model"},
            {"id": "t", "model": "echo", "user": "x", "temperature": "hot"},
            {"id": "n", "model": "echo", "system": "only a system prompt"},
            {"id": "f", "model": "echo", "user": "x", "temprature": 0.5},
            "",
            [1, 2],
            {"id": "ok2", "model": "echo", "user": "fine too"},
        )
    )
    code, _, err = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"))
    assert code == 1
    out = rows(tmp_path / "out.jsonl")
    assert len(out) == 10  # every line but the blank one, once
    errors = {row["line"]: row["error"] for row in out if row["error"]}
    assert {line: e["type"] for line, e in errors.items()} == {
        2: "InvalidLine",
        3: "InvalidLine",
        4: "DuplicateId",
        5: "InvalidRequest",
        6: "InvalidRequest",
        7: "InvalidRequest",
        8: "InvalidRequest",
        10: "InvalidLine",
    }
    assert "unknown model 'nope'; the catalog has: echo, shaped" in errors[5]["message"]
    assert "'temperature' must be a number" in errors[6]["message"]
    assert "give 'user'" in errors[7]["message"]
    assert "unknown fields ['temprature']" in errors[8]["message"]
    for line in errors:
        assert f"line {line}:" in err  # reported with its line number
    assert {row["id"] for row in out if not row["error"]} == {"ok1", "ok2"}


def test_an_invalid_catalog_stops_the_job_before_any_call(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(lines({"id": "a", "model": "echo", "user": "x"}))
    bad = [ECHO, {"name": "echo", "sdk": "test", "deployment": "d"}, {"sdk": "test"}]
    code, _, err = batch(
        tmp_path, str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), catalog=bad
    )
    assert code == 2 and "invalid model catalog" in err
    assert "the name 'echo' is taken" in err and "'name' is missing" in err
    assert not (tmp_path / "out.jsonl").exists()


def test_rows_go_to_stdout_without_output_and_input_comes_from_stdin(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text(json.dumps([ECHO]))
    out, err = io.StringIO(), io.StringIO()
    stdin = io.StringIO(lines({"id": 1, "user": "piped"}))  # one model: 'model' may be left out
    code = cli(
        ["batch", "-", "-c", str(tmp_path / "catalog.json"), "-q"],
        stdout=out,
        stderr=err,
        stdin=stdin,
    )
    assert code == 0 and err.getvalue() == ""
    assert json.loads(out.getvalue())["text"] == "piped"


# -- resume ------------------------------------------------------------------------------


def test_resume_skips_answered_ids_and_drops_a_torn_last_line(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(
        lines(*({"id": i, "model": "echo", "user": f"u{i}"} for i in range(6)))
    )
    out = tmp_path / "out.jsonl"
    first = [json.dumps({"id": i, "model": "echo", "text": "old", "error": None}) for i in (0, 1)]
    out.write_text("\n".join(first) + '\n{"id": 2, "model": "ec')  # killed mid-line
    code, _, err = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", str(out))
    assert code == 2 and "--resume" in err  # an existing output is never overwritten silently
    code, _, err = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", str(out), "--resume")
    assert code == 0, err
    done = rows(out)
    assert sorted(r["id"] for r in done) == [0, 1, 2, 3, 4, 5]
    assert [r["text"] for r in done[:2]] == ["old", "old"]  # kept, not called again
    assert "6 rows (2 from earlier runs)" in err


def test_retry_failed_runs_again_only_retryable_failures(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(
        lines(*({"id": i, "model": "echo", "user": f"u{i}"} for i in range(4)))
    )
    out = tmp_path / "out.jsonl"
    server_error = {"type": "ServerError", "message": "boom", "status": 500, "retryable": True}
    bad_request = {"type": "BadRequestError", "message": "no", "status": 400, "retryable": False}
    out.write_text(
        lines(
            {"id": 0, "model": "echo", "text": "kept", "error": None},
            {"id": 1, "model": "echo", "text": None, "error": server_error},
            {"id": 2, "model": "echo", "text": None, "error": bad_request},
        )
    )
    code, _, _ = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", str(out), "--retry-failed")
    assert code == 1  # id 2 still failed
    by_id = {r["id"]: r for r in rows(out)}
    assert len(rows(out)) == 4 and set(by_id) == {0, 1, 2, 3}
    assert by_id[1]["text"] == "u1" and by_id[1]["error"] is None
    assert by_id[2]["error"]["type"] == "BadRequestError"


OPENAI = msl.PluginRegistry(allow={"OpenAI"})


def _openai(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "gpt",
        "sdk": "OpenAI",
        "endpoint": url,
        "deployment": "m",
        "key": "KEY-BATCH",
        "retry": {"attempts": 2, "initialDelay": 0.01},
        **extra,
    }


def _job_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ALLOW_ENV}
    return {**env, "KEY_BATCH": "sk-batch-test-key"}


@pytest.mark.parametrize("stand_in", [("--latency", "0.03")], indirect=True)
def test_killed_at_random_moments_then_resumed_every_id_once(
    tmp_path: Path, stand_in: StandIn
) -> None:
    ids = [f"id-{i:04d}" for i in range(300)]
    (tmp_path / "in.jsonl").write_text(lines(*({"id": i, "user": i} for i in ids)))
    (tmp_path / "catalog.json").write_text(json.dumps([_openai(stand_in.url)]))
    out = tmp_path / "out.jsonl"
    concurrency = 8
    command = [
        sys.executable,
        "-m",
        "metasync_llm",
        "batch",
        str(tmp_path / "in.jsonl"),
        "-c",
        str(tmp_path / "catalog.json"),
        "-o",
        str(out),
        "--resume",
        "--concurrency",
        str(concurrency),
        "-q",
    ]
    rng = random.Random(1234)
    kills = 0
    for _ in range(4):
        job = subprocess.Popen(command, env=_job_env())
        time.sleep(rng.uniform(0.8, 2.0))
        if job.poll() is not None:
            break
        job.send_signal(signal.SIGKILL)
        job.wait()
        kills += 1
        assert out.exists()
    done = subprocess.run(command, env=_job_env(), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    answered = Counter(row["id"] for row in rows(out))
    assert set(answered) == set(ids) and set(answered.values()) == {1}
    assert all(row["text"] == f"answer to {row['id']}" for row in rows(out))
    calls = Counter(prompt for _, _, prompt in stand_in.requests())
    repeated = sum(n - 1 for n in calls.values())
    # Only calls in flight when the job was killed are paid for twice.
    assert repeated <= kills * concurrency, (kills, repeated)
    assert kills >= 1, "the job finished before any kill: give it more work"


@pytest.mark.parametrize(
    "stand_in", [("--storm", "6", "--retry-after", "0.5", "--latency", "0.01")], indirect=True
)
def test_a_429_storm_pauses_the_model_for_every_call(tmp_path: Path, stand_in: StandIn) -> None:
    requests = [{"id": f"id-{i}", "user": f"id-{i}"} for i in range(40)]
    summary = run_batch(
        requests,
        [_openai(stand_in.url)],
        tmp_path / "out.jsonl",
        concurrency=6,
        registry=OPENAI,
    )
    assert summary.failed == 0 and summary.rows == 40
    seen = stand_in.requests()
    limited = [when for when, status, _ in seen if status == 429]
    assert len(limited) == 6
    # After the first 429, nothing reaches the server until its Retry-After has passed,
    # except the calls that were already on their way.
    pause_end = limited[0] + 0.5
    early = [when for when, status, _ in seen if limited[0] < when < pause_end - 0.05]
    assert len(early) <= 6, early
    retried = [r for r in rows(tmp_path / "out.jsonl") if r["attempts"] > 1]
    assert retried and all(r["error"] is None for r in retried)


@pytest.mark.parametrize(
    "stand_in",
    [
        (
            "--latency",
            "0.0",
        )
    ],
    indirect=True,
)
def test_the_server_sees_no_more_than_requests_per_minute(
    tmp_path: Path, stand_in: StandIn
) -> None:
    model = _openai(stand_in.url, rateLimit={"requestsPerMinute": 1200, "concurrency": 4})
    started = time.monotonic()
    summary = run_batch(
        ({"id": i, "user": f"id-{i}"} for i in range(40)),
        [model],
        None,
        concurrency=32,
        registry=OPENAI,
    )
    assert summary.failed == 0 and time.monotonic() - started >= 1.9  # 40 at 20 a second
    arrivals = sorted(when for when, _, _ in stand_in.requests())
    for i, start in enumerate(arrivals):
        in_a_second = [t for t in arrivals[i:] if t < start + 1.0]
        assert len(in_a_second) <= 20 + 1, "more than requestsPerMinute / 60 in a second"


# -- the limiter, on a clock of its own ----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_spaces_requests_and_counts_tokens() -> None:
    clock = Clock()

    async def run() -> None:
        limiter = ModelLimiter(RateLimit(requests_per_minute=60, tokens_per_minute=600), clock)

        def wait(tokens: int) -> float:
            return max(0.0, limiter._wait(tokens))

        assert wait(100) == 0
        limiter._take(100)
        assert wait(100) == pytest.approx(1.0)  # one request a second
        clock.now += 1.0
        assert wait(100) == 0
        limiter._take(450)  # 600 - 100 - 450 (+10 refilled) = 60 tokens left
        clock.now += 1.0
        assert wait(100) == pytest.approx((100 - 70) / 10)  # 10 tokens a second
        limiter.release(450, 50)  # it used 50 of its 450: 400 come back
        assert wait(100) == 0
        assert limiter.rate_limited(2.5, epoch=0) == 2.5  # 429 with Retry-After: 2.5
        assert wait(1) == pytest.approx(2.5)
        # The rest of that burst (calls sent before the pause) neither grows nor shortens it.
        assert limiter.rate_limited(None, epoch=0) == pytest.approx(2.5)
        assert limiter.rate_limited(4.0, epoch=0) == pytest.approx(4.0)  # a longer Retry-After
        clock.now += 4.0
        # Without Retry-After the pause doubles per pause, not per refused call.
        assert limiter.rate_limited(None, epoch=1) == 0.5
        assert limiter.rate_limited(None, epoch=1) == pytest.approx(0.5)
        clock.now += 0.5
        assert limiter.rate_limited(None, epoch=2) == 1.0
        clock.now += 1.0
        limiter.succeeded()
        assert limiter.rate_limited(None, epoch=3) == 0.5
        clock.now += 0.5
        # Epoch unknown: a 429 while paused belongs to the pause.
        assert limiter.rate_limited(None) == 1.0
        assert limiter.rate_limited(None) == pytest.approx(1.0)

    asyncio.run(run())


def test_rate_limits_in_documents_are_checked() -> None:
    with pytest.raises(msl.ConfigurationError) as info:
        msl.prepare_model(
            {**ECHO, "rateLimit": {"requestsPerMinute": 0, "concurrency": 1.5, "rpm": 3}}
        )
    assert set(info.value.fields) == {
        "rateLimit.requestsPerMinute",
        "rateLimit.concurrency",
        "rateLimit",
    }


# -- the Python API, progress, memory -----------------------------------------------------


def test_run_batch_from_code_with_a_callback_and_async() -> None:
    got: list[dict[str, Any]] = []
    requests = [
        BatchRequest(id="a", model="echo", user="one"),
        {"id": "b", "model": "echo", "user": "two"},
        json.dumps({"id": "c", "model": "echo", "user": "three"}),
    ]
    summary = run_batch(requests, CATALOG, on_result=got.append)
    assert sorted(r["text"] for r in got) == ["one", "three", "two"]
    assert summary.to_dict()["models"]["echo"]["calls"] == 3

    async def agen() -> Any:
        for i in range(5):
            yield {"id": i, "model": "echo", "user": f"a{i}"}

    async def run() -> msl.batch.BatchSummary:
        return await arun_batch(agen(), CATALOG, on_result=got.append, concurrency=2)

    assert asyncio.run(run()).rows == 5 and len(got) == 8


def test_the_input_is_read_as_the_job_goes() -> None:
    state = {"read": 0, "written": 0, "ahead": 0}

    def requests() -> Iterator[dict[str, Any]]:
        for i in range(3000):
            state["read"] += 1
            state["ahead"] = max(state["ahead"], state["read"] - state["written"])
            yield {"id": i, "model": "echo", "user": "x"}

    def written(row: dict[str, Any]) -> None:
        state["written"] += 1

    run_batch(requests(), CATALOG, on_result=written, concurrency=16)
    assert state["written"] == 3000
    assert state["ahead"] <= 16 + 16 + 256 + 2, state  # workers, queue, one read-ahead


def test_progress_lines_when_stderr_is_not_a_terminal_and_a_summary_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "in.jsonl").write_text(
        lines(*({"id": i, "model": "echo", "user": "x"} for i in range(5)), "bad")
    )
    code, _, err = batch(
        tmp_path,
        str(tmp_path / "in.jsonl"),
        "-o",
        str(tmp_path / "out.jsonl"),
        "--progress-interval",
        "0",
        "--summary",
        str(tmp_path / "summary.json"),
    )
    assert code == 1
    assert "batch: 1 done, " in err and "/s" in err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["rows"], summary["failed"]) == (6, 1)
    assert summary["models"]["echo"]["calls"] == 5
    assert summary["cost"]["USD"] > 0 and summary["tokens"] > 0
    code, _, err = batch(
        tmp_path, str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "o2.jsonl"), "-q"
    )
    assert err == ""


def test_a_bar_at_a_terminal(tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    from metasync_llm.batch import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    run_batch(
        ({"id": i, "model": "echo", "user": "x"} for i in range(20)),
        CATALOG,
        progress=Progress(terminal, total=20),
    )
    assert "20/20" in terminal.getvalue() and "tokens" in terminal.getvalue()
