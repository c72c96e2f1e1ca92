"""The Ray engine on a local Ray with 2 CPUs: the local engine's rows, resume and limits."""

from __future__ import annotations

import importlib.util
import json
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metasync_llm import SDKRegistry
from metasync_llm.batch import run_batch, run_on_ray
from metasync_llm.registry import ALLOW_ENV

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray") if os.environ.get("METASYNC_REQUIRE_PEERS") != "1" else None
if ray is None:  # CI installs the extra: a missing Ray there is a failure, not a skip
    import ray

CATALOG = [
    {
        "name": "echo",
        "sdk": "test",
        "deployment": "echo",
        "cost": {"tokens": 1000, "currency": "USD", "input": 1, "output": 2},
    },
    {"name": "shaped", "sdk": "test", "deployment": "json"},
]
SCHEMA = {"type": "object", "properties": {"c": {"type": "string"}}, "required": ["c"]}
COMPARED = ("id", "line", "model", "text", "data", "usage", "cost", "finish_reason")


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def requests(n: int) -> list[Any]:
    items: list[Any] = [{"id": f"r{i}", "model": "echo", "user": f"hello {i}"} for i in range(n)]
    items += [
        {"id": "s", "model": "shaped", "user": "a colour", "schema": SCHEMA},
        "not json",
        {"id": "r1", "model": "echo", "user": "a duplicate"},
        {"id": "x", "model": "nope", "user": "an unknown model"},
    ]
    return [item if isinstance(item, str) else json.dumps(item) for item in items]


def comparable(path: Path) -> set[str]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {
        json.dumps(
            {
                **{k: row[k] for k in COMPARED},
                "error": row["error"] and row["error"]["type"],
            },
            sort_keys=True,
        )
        for row in rows
    }


def test_the_ray_engine_writes_the_local_engines_rows_and_resumes(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(requests(60)) + "\n")
    run_batch(source, CATALOG, tmp_path / "local.jsonl")
    summary = run_on_ray(source, CATALOG, tmp_path / "ray.jsonl", actors=2, batch_size=8)
    assert summary.rows == 64 and summary.failed == 3
    assert comparable(tmp_path / "ray.jsonl") == comparable(tmp_path / "local.jsonl")

    # Resume: a job cut short (half its rows, a torn last line) ends with every row once.
    lines = (tmp_path / "ray.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "ray.jsonl").write_text("".join(lines[:30]) + lines[30][:25])
    again = run_on_ray(source, CATALOG, tmp_path / "ray.jsonl", resume=True)
    assert again.resumed == 30 and again.rows == 64
    keys = Counter(
        (row["id"], row["line"])
        for row in map(json.loads, (tmp_path / "ray.jsonl").read_text().splitlines())
    )
    assert set(keys.values()) == {1} and len(keys) == 64
    assert comparable(tmp_path / "ray.jsonl") == comparable(tmp_path / "local.jsonl")


def test_a_worker_without_the_plugin_gives_an_error_per_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("metasync_llm_openai") is None:
        pytest.skip("metasync_llm_openai is not installed")
    monkeypatch.setenv(ALLOW_ENV, "test,OpenAI")
    SDKRegistry.refresh()
    gpt = {
        "name": "gpt",
        "sdk": "OpenAI",
        "endpoint": "http://127.0.0.1:9",
        "deployment": "m",
        "key": "KEY-NONE",
    }
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"id": 1, "model": "gpt", "user": "x"})
        + "\n"
        + json.dumps({"id": 2, "model": "echo", "user": "y"})
        + "\n"
    )
    try:
        summary = run_on_ray(
            source,
            [*CATALOG, gpt],
            tmp_path / "out.jsonl",
            # The workers see only the test SDK, as a cluster without the plugin would.
            runtime_env={"env_vars": {ALLOW_ENV: "test"}},
        )
    finally:
        monkeypatch.undo()
        SDKRegistry.refresh()
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert summary.rows == 2 and rows[2]["text"] == "y"
    error = rows[1]["error"]
    assert error["type"] == "ConfigurationError" and "on Ray worker" in error["message"]
    assert "OpenAI" in error["message"]


def test_rate_limits_hold_for_the_whole_cluster_and_keys_can_travel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("metasync_llm_openai") is None:
        pytest.skip("metasync_llm_openai is not installed")
    from batch_server import StandIn

    server = StandIn(tmp_path)
    monkeypatch.setenv(ALLOW_ENV, "test,OpenAI")
    monkeypatch.setenv("KEY_RAY_BATCH", "sk-ray-batch-test-key")  # not in the workers' env
    SDKRegistry.refresh()
    gpt = {
        "name": "gpt",
        "sdk": "OpenAI",
        "endpoint": server.url,
        "deployment": "m",
        "key": "KEY-RAY-BATCH",
        "rateLimit": {"requestsPerMinute": 1200},
    }
    try:
        summary = run_on_ray(
            [{"id": i, "user": f"id-{i}"} for i in range(40)],
            [gpt],
            tmp_path / "out.jsonl",
            actors=2,
            batch_size=4,
            forward_keys=True,  # the key reaches the workers in the runtime environment
            runtime_env={"env_vars": {ALLOW_ENV: "test,OpenAI"}},
        )
    finally:
        monkeypatch.undo()
        SDKRegistry.refresh()
        server.close()
    assert summary.failed == 0, (tmp_path / "out.jsonl").read_text()[:500]
    arrivals = sorted(when for when, _, _ in server.requests())
    assert len(arrivals) == 40
    # The limiter actor grants turns 50 ms apart; a granted request then travels through
    # a worker, so arrivals jitter by the scheduling delay of a loaded 2-core machine
    # (22 in one second was seen under a full test run). Two actors each pacing itself
    # alone would send all 40 within about one second.
    assert arrivals[-1] - arrivals[0] >= 39 * 0.05 - 0.25, "faster than requestsPerMinute"
    for i, start in enumerate(arrivals):
        in_a_second = [t for t in arrivals[i:] if t < start + 1.0]
        assert len(in_a_second) <= 20 + 4, "two actors together went past requestsPerMinute"


def test_the_command_line_runs_a_job_on_ray(tmp_path: Path) -> None:
    import io

    from metasync_llm.cli import main as cli

    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(requests(10)) + "\n")
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    err = io.StringIO()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        code = _cli_on_ray(cli, source, tmp_path, err)
    # Ray Data's local:// paths are deprecated (gone after January 2027): not used.
    assert not [w for w in seen if "local://" in str(w.message)], [str(w.message) for w in seen]
    assert code == 1  # the bad lines failed; the rest succeeded
    assert "14 rows (0 from earlier runs), 3 failed" in err.getvalue()
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 14


def _cli_on_ray(cli: Any, source: Path, tmp_path: Path, err: Any) -> int:
    import io

    return int(
        cli(
            [
                "batch",
                str(source),
                "-c",
                str(tmp_path / "catalog.json"),
                "-o",
                str(tmp_path / "out.jsonl"),
                "--engine",
                "ray",
                "--ray-actors",
                "1",
                "--ray-runtime-env",
                json.dumps({"env_vars": {"METASYNC_BATCH_TEST": "1"}}),
            ],
            stdout=io.StringIO(),
            stderr=err,
        )
    )


def test_rows_naming_a_route_are_routed_on_ray_as_locally(tmp_path: Path) -> None:
    """Each worker routes with a router of its own (the documents' health is not shared
    between workers yet): every row is answered by the healthy document."""
    catalog = [
        {"name": "down", "sdk": "test", "deployment": "fail-503", "retry": {"attempts": 1}},
        {"name": "up", "sdk": "test", "deployment": "echo"},
        {"name": "chat", "route": ["down", "up"]},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"id": i, "model": "chat", "user": f"u{i}"}) + "\n" for i in range(16))
    )
    summary = run_on_ray(source, catalog, tmp_path / "ray.jsonl", actors=2, batch_size=4)
    rows = [json.loads(line) for line in (tmp_path / "ray.jsonl").read_text().splitlines()]
    assert summary.rows == 16 and summary.failed == 0
    assert {row["answered_by"] for row in rows} == {"up"}
    assert all(row["text"] == f"u{row['id']}" for row in rows)


def test_a_documents_outage_on_one_worker_is_seen_by_the_others() -> None:
    """Two workers' healths of one route over the job's limits actor (a real Ray actor):
    the document one finds failing cools on the other, without the other calling it."""
    import time

    from metasync_llm import ServerError
    from metasync_llm._routing._health import Deployment, Health
    from metasync_llm.batch._ray import SharedHealth, _LimiterActor

    actor = ray.remote(_LimiterActor).remote({})

    def worker() -> SharedHealth:
        base = Health(
            [Deployment("down"), Deployment("up")],
            balance=False,
            failures=1,
            window=60,
            cooldown=600,
        )
        return SharedHealth(base, actor, "chat", ray)

    one, two = worker(), worker()
    assert two.pick(set()) == (0, 0.0)  # healthy everywhere: the first document
    two.released(0)
    index, _ = one.pick(set())
    one.failed(index, ServerError("down"))  # cools on worker one, and is reported
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # worker two takes it in at its next picks
        picked, _ = two.pick(set())
        assert picked is not None
        two.released(picked)
        if picked == 1:
            break
        time.sleep(SharedHealth.REFRESH)
    assert picked == 1, "worker two never learnt of the outage"
    snapshot = two.snapshot()[0]
    assert isinstance(snapshot["cooling_for"], float) and snapshot["cooling_for"] > 500
    # A success where it was cooling restores it for everyone.
    one.deployments[0].cooling_until = one.clock() - 1  # its cooldown over: one probe
    probe, _ = one.pick(set())
    assert probe == 0
    one.succeeded(0)
    # The restore is sent without waiting (as the cooldown was): an async actor may run
    # the next call first, so the state is read until it lands.
    deadline = time.monotonic() + 10
    while ray.get(actor.route_state.remote("chat")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ray.get(actor.route_state.remote("chat")) == {}
