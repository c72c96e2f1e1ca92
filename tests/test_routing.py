"""Routing across model documents through the public API: fallback, balance, what moves a
call on, cooldowns and the probe, deadlines, streams, concurrency, catalogs, batch, CLI.

The ``test`` SDK's failing deployments (``fail-503``, ``fail-429``, ...) and loopback
servers (a 503, a 429 with ``Retry-After``, a refused connection, counting requests) stand
in for providers.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm import Router
from metasync_llm.cli import main
from metasync_llm.testing import LoopbackServer, Reply, wires

KEY = "sk-routing-canary-7d41e2"


def doc(name: str, deployment: str = "echo", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "sdk": "test",
        "deployment": deployment,
        "retry": {"attempts": 1},
        **extra,
    }


def openai_doc(name: str, url: str) -> dict[str, Any]:
    return {
        "name": name,
        "sdk": "OpenAI",
        "endpoint": url,
        "deployment": "gpt",
        "key": "KEY-ROUTING",
        "retry": {"attempts": 1},
    }


_REGISTRY: list[msl.PluginRegistry] = []


def openai_registry() -> msl.PluginRegistry:
    """The OpenAI plugin and the test SDK (skipped where the plugin is not installed)."""
    from test_conversations_plugins import registry

    registry("OpenAI")
    if not _REGISTRY:
        _REGISTRY.append(msl.PluginRegistry(allow={"OpenAI", "test"}))
    return _REGISTRY[0]


# -- fallback ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failing", "error"),
    [
        ("fail-503", "ServerError"),
        ("fail-429", "RateLimitError"),
        ("fail-timeout", "APITimeoutError"),
        ("fail-connection", "APIConnectionError"),
        ("fail-context", "ContextWindowExceededError"),
        ("fail-401", "AuthenticationError"),
    ],
)
def test_each_default_trigger_moves_the_call_on(failing: str, error: str) -> None:
    router = Router([doc("first", failing), doc("second")])
    result = router.complete("", "hello")
    assert (result.text, result.model) == ("hello", "second")
    assert result.route_attempts == (
        msl.RouteAttempt("first", error),
        msl.RouteAttempt("second", None),
    )


@pytest.mark.parametrize("failing", ["fail-400", "fail-404", "fail-403"])
def test_errors_of_the_request_itself_do_not_move_on(failing: str) -> None:
    router = Router([doc("first", failing), doc("second")])
    with pytest.raises(msl.CompletionError) as info:
        router.complete("", "hello")
    assert not isinstance(info.value, msl.AllModelsFailedError)


def test_a_configuration_error_of_the_callers_arguments_never_moves_on() -> None:
    router = Router([doc("first"), doc("second")])
    with pytest.raises(msl.ConfigurationError, match="temperature"):
        router.complete("", "hello", temperature=-3)
    assert all(d["in_flight"] == 0 for d in router.health.snapshot())


def test_fallback_on_is_configurable() -> None:
    router = Router([doc("first", "fail-400"), doc("second")], fallback_on=[msl.BadRequestError])
    assert router.complete("", "x").model == "second"
    strict = Router([doc("first", "fail-503"), doc("second")], fallback_on=[])
    with pytest.raises(msl.ServerError):
        strict.complete("", "x")


def test_when_every_document_fails_the_error_lists_each_last_error() -> None:
    router = Router([doc("a", "fail-503"), doc("b", "fail-429")])
    with pytest.raises(msl.AllModelsFailedError) as info:
        router.complete("", "x")
    error = info.value
    assert isinstance(error, msl.CompletionError)
    assert {k: type(v).__name__ for k, v in error.errors.items()} == {
        "a": "ServerError",
        "b": "RateLimitError",
    }
    assert [a.model for a in error.route_attempts] == ["a", "b"]
    assert "a: ServerError" in str(error) and "b: RateLimitError" in str(error)


def test_a_refused_connection_moves_to_the_second_over_real_http(loopback: LoopbackServer) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    loopback.add(Reply.json(wires.chat_completion("from the second")))
    router = Router(
        [openai_doc("dead", closed), openai_doc("alive", loopback.url)], registry=openai_registry()
    )
    result = router.complete("", "q", api_key=KEY)
    assert result.text == "from the second" and result.model == "alive"
    assert result.route_attempts[0] == msl.RouteAttempt("dead", "APIConnectionError")


# -- cooldowns and the probe ---------------------------------------------------------------


def test_a_failing_document_cools_then_one_call_probes_it() -> None:
    clock = [0.0]
    router = Router([doc("flaky", "fail-503"), doc("steady")], failures=2, window=10, cooldown=5)
    router.health.clock = lambda: clock[0]
    for _ in range(2):  # two failures within the window: it cools
        assert router.complete("", "x").route_attempts[0].model == "flaky"
    assert router.health.snapshot()[0]["cooling_for"] == 5
    # While it cools, calls go straight to the other.
    assert router.complete("", "x").route_attempts == (msl.RouteAttempt("steady", None),)
    clock[0] = 5.0  # the cooldown is over: the next call probes it (and it fails again)
    assert router.complete("", "x").route_attempts[0] == msl.RouteAttempt("flaky", "ServerError")
    assert router.health.snapshot()[0]["cooling_for"] == 5


def test_a_successful_probe_restores_the_document(loopback: LoopbackServer) -> None:
    clock = [0.0]
    loopback.add(Reply.json({"error": {"message": "down"}}, status=503))
    router = Router(
        [openai_doc("primary", loopback.url), doc("backup")],
        failures=1,
        cooldown=5,
        registry=openai_registry(),
    )
    router.health.clock = lambda: clock[0]
    assert router.complete("", "x", api_key=KEY).model == "backup"
    assert router.complete("", "x", api_key=KEY).model == "backup"  # cooling: not asked
    assert len(loopback.requests) == 1
    clock[0] = 6.0
    loopback.add(Reply.json(wires.chat_completion("back")))
    assert router.complete("", "x", api_key=KEY).model == "primary"
    assert router.health.snapshot()[0] == {
        "name": "primary",
        "in_flight": 0,
        "cooling_for": 0.0,
        "probing": False,
        "recent_failures": 0,
    }


def test_a_429_with_retry_after_cools_for_that_long(loopback: LoopbackServer) -> None:
    loopback.add(Reply.json({"error": {"message": "slow down"}}, 429, {"retry-after": "42"}))
    router = Router([openai_doc("limited", loopback.url), doc("spare")], registry=openai_registry())
    assert router.complete("", "x", api_key=KEY).model == "spare"
    cooling = router.health.snapshot()[0]["cooling_for"]
    assert isinstance(cooling, float) and 40 < cooling <= 42


def test_two_hundred_concurrent_calls_send_exactly_one_probe(loopback: LoopbackServer) -> None:
    loopback.default = Reply.json({"error": {"message": "still down"}}, status=503)
    router = Router(
        [openai_doc("down", loopback.url), doc("up", test={"delay": 0.01})],
        failures=1,
        cooldown=0.3,
        registry=openai_registry(),
    )

    async def main() -> list[msl.CompletionResult]:
        first = await router.acomplete("", "x", api_key=KEY)  # fails once: cools
        assert first.model == "up" and len(loopback.requests) == 1
        cooling = await asyncio.gather(
            *(router.acomplete("", "x", api_key=KEY) for _ in range(200))
        )
        assert len(loopback.requests) == 1  # no stampede on a cooling document
        assert {r.route_attempts for r in cooling} == {(msl.RouteAttempt("up", None),)}
        await asyncio.sleep(0.35)
        return list(
            await asyncio.gather(*(router.acomplete("", "x", api_key=KEY) for _ in range(200)))
        )

    after = asyncio.run(main())
    assert len(loopback.requests) == 2  # exactly one probe after the cooldown
    assert all(r.model == "up" for r in after)
    assert sum(len(r.route_attempts) == 2 for r in after) == 1


def test_when_every_document_cools_the_call_waits_within_its_deadline() -> None:
    clock = [0.0]
    router = Router([doc("only", "fail-503")], failures=1, cooldown=5, deadline=30)
    router.health.clock = lambda: clock[0]
    with pytest.raises(msl.AllModelsFailedError):
        router.complete("", "x")
    short = Router([doc("only", "fail-503")], failures=1, cooldown=5, deadline=1)
    short.health.clock = lambda: clock[0]
    with pytest.raises(msl.AllModelsFailedError, match="every document failed"):
        short.complete("", "x")
    with pytest.raises(
        msl.AllModelsFailedError, match=r"cooling for 5\.0s or more, past the deadline"
    ):
        short.complete("", "x")


def test_the_call_waits_for_a_cooling_document_that_comes_back_in_time() -> None:
    router = Router([doc("one"), doc("two")], cooldown=0.2, failures=1, deadline=5)
    for deployment in router.health.deployments:  # both cooling for 0.2 s
        deployment.cooling_until = router.health.clock() + 0.2
    started = time.monotonic()
    result = router.complete("", "x")
    assert result.model == "one" and time.monotonic() - started >= 0.15


def test_the_route_deadline_bounds_retries(loopback: LoopbackServer) -> None:
    loopback.default = Reply.json({"error": {"message": "down"}}, status=503)
    model = {**openai_doc("slow", loopback.url), "retry": {"attempts": 10, "initialDelay": 0.2}}
    router = Router([model], deadline=0.5, registry=openai_registry())
    started = time.monotonic()
    with pytest.raises(msl.AllModelsFailedError):
        router.complete("", "x", api_key=KEY)
    assert time.monotonic() - started < 2.0 and len(loopback.requests) < 10


# -- balance ----------------------------------------------------------------------------------


def test_balance_spreads_calls_by_weight() -> None:
    router = Router([doc("light"), doc("heavy", weight=3)], strategy="balance")
    picked = [router.complete("", "x").model for _ in range(40)]
    assert picked.count("heavy") == 30 and picked.count("light") == 10


def test_balance_prefers_the_document_with_fewest_calls_in_flight() -> None:
    router = Router(
        [doc("a", test={"delay": 0.2}), doc("b", test={"delay": 0.2})], strategy="balance"
    )

    async def main() -> list[str]:
        results = await asyncio.gather(*(router.acomplete("", "x") for _ in range(10)))
        return [r.model for r in results]

    picked = asyncio.run(main())
    assert picked.count("a") == picked.count("b") == 5


def test_balance_moves_on_too() -> None:
    router = Router([doc("a", "fail-503"), doc("b")], strategy="balance")
    assert {router.complete("", "x").model for _ in range(4)} == {"b"}


# -- streams ----------------------------------------------------------------------------------


def test_a_stream_moves_on_before_its_first_chunk() -> None:
    router = Router([doc("first", "fail-503"), doc("second")])
    with router.stream("", "one two three") as stream:
        assert list(stream) == ["one ", "two ", "three"]
    assert stream.result.model == "second"
    assert [a.model for a in stream.result.route_attempts] == ["first", "second"]


def test_a_stream_cut_after_its_first_chunk_does_not_move_on() -> None:
    router = Router([doc("cut", test={"cutAfter": 1}), doc("second")])
    with router.stream("", "one two three") as stream, pytest.raises(msl.APIConnectionError):
        for _ in stream:
            pass
    assert stream.text == "one "


def test_async_streams_move_on_too() -> None:
    router = Router([doc("first", "fail-429"), doc("second")])

    async def main() -> tuple[list[str], msl.CompletionResult]:
        async with router.astream("", "a b") as stream:
            chunks = [chunk async for chunk in stream]
        return chunks, stream.result

    chunks, result = asyncio.run(main())
    assert chunks == ["a ", "b"] and result.model == "second"


# -- documents, catalogs, the CLI and batch -------------------------------------------------


CATALOG = [
    doc("down", "fail-503"),
    doc("up"),
    {"name": "chat", "route": ["down", "up"], "strategy": "fallback"},
    {"name": "nested", "route": ["chat"]},
    {"name": "loop", "route": ["loop"]},
    {"name": "ghost", "route": ["nobody"]},
    {"name": "odd", "route": ["up"], "strategy": "random"},
]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"models": []}, "non-empty list"),
        ({"models": [doc("a")], "strategy": "random"}, "'fallback' or 'balance'"),
        ({"models": [doc("a"), doc("a")]}, "names must differ"),
        ({"models": [doc("a", weight=0)]}, "'weight' must be a positive number"),
        ({"models": [doc("a")], "cooldown": -1}, "cooldown must be"),
        ({"models": [doc("a")], "deadline": 0}, "deadline must be"),
        ({"models": [{"name": "x", "sdk": "nope"}]}, "nope"),
    ],
)
def test_a_bad_router_is_a_configuration_error(kwargs: dict[str, Any], message: str) -> None:
    models = kwargs.pop("models")
    with pytest.raises(msl.ConfigurationError, match=message):
        Router(models, **kwargs)


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, stdin=io.StringIO(""))
    return code, out.getvalue(), err.getvalue()


def test_the_cli_calls_a_route_by_name_and_validate_checks_routes(tmp_path: Path) -> None:
    catalog = tmp_path / "models.json"
    catalog.write_text(json.dumps(CATALOG))
    code, out, err = _cli("complete", "hello", "--model", str(catalog), "--name", "nested")
    assert (code, out) == (0, "hello\n") and "after down (ServerError)" in err
    code, out, _ = _cli("validate", str(catalog))
    assert code == 1
    assert "ok       chat (route)" in out and "ok       nested (route)" in out
    assert "invalid  loop (route): routes refer to each other in a cycle: loop -> loop" in out
    assert "invalid  ghost (route): the route names 'nobody'" in out
    assert "invalid  odd (route): 'strategy' must be 'fallback' or 'balance'" in out
    code, _, err = _cli("complete", "x", "--model", str(catalog), "--name", "ghost")
    assert code == 2 and "'nobody'" in err


def test_batch_rows_naming_a_route_move_on_and_say_who_answered(tmp_path: Path) -> None:
    catalog = [doc("down", "fail-429"), doc("up"), {"name": "chat", "route": ["down", "up"]}]
    rows: list[dict[str, Any]] = []
    requests = [{"id": n, "model": "chat", "user": f"row {n}"} for n in range(20)]
    summary = msl.run_batch(requests, catalog, on_result=rows.append, concurrency=8)
    assert summary.rows == 20 and all(r["error"] is None for r in rows)
    assert {r["answered_by"] for r in rows} == {"up"}
    assert rows[0]["route_attempts"][0] == {"model": "down", "error": "RateLimitError"}


def test_no_key_shows_in_a_routed_failure(loopback: LoopbackServer) -> None:
    loopback.default = Reply.json({"error": {"message": f"bad key {KEY}"}}, status=401)
    router = Router(
        [openai_doc("a", loopback.url), openai_doc("b", loopback.url)], registry=openai_registry()
    )
    with pytest.raises(msl.AllModelsFailedError) as info:
        router.complete("", "x", api_key=KEY)
    error = info.value
    assert KEY not in str(error) + repr(error) + repr(error.errors) + repr(router)


# -- observers, the ledger and usage --------------------------------------------------------


def test_observers_see_the_route_and_each_try_of_it() -> None:
    seen: list[tuple[str, Any]] = []

    class Watcher:
        @msl.hookimpl
        def metasync_llm_route_started(self, event: Any) -> None:
            seen.append(("route started", event))

        @msl.hookimpl
        def metasync_llm_call_started(self, event: Any) -> None:
            seen.append(("call started", event))

        @msl.hookimpl
        def metasync_llm_call_ended(self, event: Any) -> None:
            seen.append(("call ended", event))

        @msl.hookimpl
        def metasync_llm_route_ended(self, event: Any) -> None:
            seen.append(("route ended", event))

    msl.register_observer(Watcher())
    try:
        Router([doc("first", "fail-503"), doc("second")], name="chat").complete("", "x")
    finally:
        msl.unregister_observer("Watcher")
    kinds = [kind for kind, _ in seen]
    assert kinds == [
        "route started",
        "call started",
        "call ended",
        "call started",
        "call ended",
        "route ended",
    ]
    route_id = seen[0][1].route_id
    tries = [event for kind, event in seen if kind == "call started"]
    assert [(t.model, t.route_id, t.route) for t in tries] == [
        ("first", route_id, "chat"),
        ("second", route_id, "chat"),
    ]
    outcomes = [event.outcome for kind, event in seen if kind == "call ended"]
    assert outcomes == ["error", "ok"]
    ended = seen[-1][1]
    assert (ended.outcome, ended.model, len(ended.attempts)) == ("ok", "second", 2)


def test_usage_counts_the_fallbacks_of_each_document(tmp_path: Path) -> None:
    from metasync_llm.ledger import Ledger, render, usage

    path = tmp_path / "usage.db"
    ledger = Ledger(path)
    msl.register_observer(ledger, name="ledger")
    try:
        router = Router([doc("first", "fail-503"), doc("second")], failures=100)
        for _ in range(3):
            router.complete("", "x")
    finally:
        msl.unregister_observer("ledger")
    assert ledger.flush()
    rows = {row.key: row for row in usage(str(path))}
    assert (rows["first"].calls, rows["first"].failed, rows["first"].fallbacks) == (3, 3, 3)
    assert (rows["second"].calls, rows["second"].fallbacks) == (3, 0)
    assert "ServerError 3 (3 in routes)" in render(list(rows.values()), "model")


def test_async_routed_calls_keep_each_documents_rate_limit() -> None:
    """120 requests a minute: one call every 0.5 s per document. Three calls over two
    documents balanced: the third waits for a turn (measured by the limiter's own clock,
    not timed against the machine)."""
    paced = {"rateLimit": {"requestsPerMinute": 120}}
    router = Router([doc("a", **paced), doc("b", **paced)], strategy="balance")

    async def main() -> float:
        started = time.monotonic()
        await asyncio.gather(*(router.acomplete("", "x") for _ in range(3)))
        async with router.astream("", "y") as stream:
            assert [c async for c in stream] == ["y"]
        return time.monotonic() - started

    assert asyncio.run(main()) >= 0.45  # the third call, then the stream, waited


def test_a_route_document_may_set_the_routers_cooldowns_and_deadline() -> None:
    from metasync_llm.routing import from_catalog

    catalog = [
        doc("a"),
        doc("b"),
        {"name": "r", "route": ["a", "b"], "failures": 1, "cooldown": 5, "deadline": 9},
    ]
    router = from_catalog(catalog, "r")
    assert (router.health.failures, router.health.cooldown, router.deadline) == (1, 5, 9)
    with pytest.raises(msl.ConfigurationError, match="cooldown must be"):
        from_catalog([*catalog[:2], {"name": "r", "route": ["a"], "cooldown": -1}], "r")


def test_a_routed_stream_that_fails_or_closes_early_still_ends_its_route() -> None:
    ended: list[Any] = []

    class Watcher:
        @msl.hookimpl
        def metasync_llm_route_ended(self, event: Any) -> None:
            ended.append(event)

    msl.register_observer(Watcher())
    try:
        router = Router([doc("cut", test={"cutAfter": 1}), doc("second")])
        with router.stream("", "one two three") as stream, pytest.raises(msl.APIConnectionError):
            for _ in stream:
                pass
        with Router([doc("whole")]).stream("", "one two three") as early:
            next(iter(early))
    finally:
        msl.unregister_observer("Watcher")
    assert [(e.outcome, e.error_type) for e in ended] == [
        ("error", "APIConnectionError"),
        ("closed", None),
    ]
    assert [a.model for a in ended[0].attempts] == ["cut"]
