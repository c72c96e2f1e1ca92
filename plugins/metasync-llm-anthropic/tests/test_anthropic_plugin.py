"""The Anthropic plugin over real HTTP (spec server, loopback SSE): blocking, streaming, async."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm import (
    PluginRegistry,
    acomplete_with_model,
    astream_with_model,
    complete_with_model,
    stream_with_model,
)
from metasync_llm.testing import LoopbackServer, Reply, wires

REGISTRY = PluginRegistry(allow={"Anthropic"})
CANARY = "sk-ant-canary-91b3c4d5"


def doc(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "claude-test",
        "sdk": "Anthropic",
        "endpoint": endpoint,
        "deployment": "claude-sonnet-5-5",
        "key": "KEY-ANT",
        "retry": {"attempts": 1},  # retries have their own tests
        **extra,
    }


def call(
    model: dict[str, Any], system: str = "Be brief.", user: str = "Hi", **kwargs: Any
) -> msl.CompletionResult:
    return complete_with_model(model, system, user, api_key=CANARY, registry=REGISTRY, **kwargs)


def stream(
    texts: list[str],
    stop: str = "end_turn",
    usage: dict[str, int] | None = None,
) -> Reply:
    events = wires.anthropic_events(
        texts, stop=stop, input_tokens=12, output_tokens=5, start_usage=usage
    )
    return Reply.sse(events, done=False, named=True, headers={"request-id": "req_ant"})


def test_completion_against_the_anthropic_spec_server(peer: Callable[[str], str]) -> None:
    result = call(doc(peer("anthropic")), max_tokens=64)
    assert isinstance(result.text, str) and result.text
    assert all(isinstance(c, int) and c >= 0 for c in result.usage)
    assert result.total_tokens == result.prompt_tokens + result.completion_tokens


def test_request_the_spec_server_rejects_is_a_bad_request(peer: Callable[[str], str]) -> None:
    with pytest.raises(msl.BadRequestError) as info:
        call(doc(peer("anthropic"), extraBody={"top_k": -1}))  # the API wants top_k >= 0
    assert info.value.status == 422 and info.value.sdk == "Anthropic"


def test_streamed_answer_and_what_is_sent(loopback: LoopbackServer) -> None:
    loopback.add(stream(["Hello", ", world"], usage={"cache_read_input_tokens": 30}))
    result = call(doc(loopback.url), temperature=0.9, max_tokens=77)
    assert result.text == "Hello, world"
    assert result.usage == (42, 5, 47)
    assert (result.finish_reason, result.request_id) == ("stop", "req_ant")
    [sent] = loopback.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["authorization"] == f"Bearer {CANARY}"  # anthropic 2.x
    body = sent.json()
    assert body["stream"] is True
    assert (body["model"], body["max_tokens"], body["system"]) == (
        "claude-sonnet-5-5",
        77,
        "Be brief.",
    )
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert "temperature" not in body


def test_system_only_prompt_becomes_the_user_turn(loopback: LoopbackServer) -> None:
    loopback.add(stream(["ok"]))
    call(doc(loopback.url), system="Everything in the system prompt", user="")
    body = loopback.requests[0].json()
    assert "system" not in body
    assert body["messages"] == [{"role": "user", "content": "Everything in the system prompt"}]


def test_stop_at_max_tokens_is_truncation(loopback: LoopbackServer) -> None:
    loopback.add(stream(['{"a": [1,'], stop="max_tokens"))
    result = call(doc(loopback.url))
    assert result.truncated and result.finish_reason == "length"
    loopback.add(stream(['{"a": [1,'], stop="max_tokens"))
    with pytest.raises(msl.TruncatedResponseError):
        call(doc(loopback.url), repair_json=True)


@pytest.mark.parametrize(
    ("stop", "error"),
    [
        ("end_turn", msl.EmptyResponseError),
        ("refusal", msl.ContentFilterError),
        ("max_tokens", msl.TruncatedResponseError),
    ],
)
def test_no_text(loopback: LoopbackServer, stop: str, error: type) -> None:
    loopback.add(stream([], stop=stop))
    with pytest.raises(error, match="Anthropic"):
        call(doc(loopback.url))


@pytest.mark.parametrize(
    ("status", "kind", "message", "error"),
    [
        (401, "authentication_error", "invalid x-api-key", msl.AuthenticationError),
        (403, "permission_error", "not allowed", msl.PermissionDeniedError),
        (404, "not_found_error", "model: claude-9", msl.NotFoundError),
        (
            413,
            "request_too_large",
            "Request exceeds the maximum size",
            msl.ContextWindowExceededError,
        ),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum",
            msl.ContextWindowExceededError,
        ),
        (
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your rate limit",
            msl.RateLimitError,
        ),
        (500, "api_error", "Internal server error", msl.ServerError),
        (529, "overloaded_error", "Overloaded", msl.ServerError),
    ],
)
def test_provider_errors_map_to_the_core_hierarchy(
    loopback: LoopbackServer, status: int, kind: str, message: str, error: type
) -> None:
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_err"}
    loopback.add(
        Reply.json(body, status=status, headers={"request-id": "req_err", "retry-after": "11"})
    )
    with pytest.raises(error) as info:
        call(doc(loopback.url))
    err = info.value
    assert type(err) is error and err.status == status and err.request_id == "req_err"
    assert message in str(err) and CANARY not in str(err)
    if status == 429:
        assert err.retry_after == 11
    assert len(loopback.requests) == 1


def test_client_is_pooled(loopback: LoopbackServer) -> None:
    loopback.add(stream(["a"]), stream(["b"]))
    call(doc(loopback.url))
    call(doc(loopback.url))
    assert len({r.client for r in loopback.requests}) == 1


def test_timeout_and_connection_failure(loopback: LoopbackServer) -> None:
    loopback.add(Reply(delay=2.0))
    with pytest.raises(msl.APITimeoutError):
        call(doc(loopback.url, timeout=0.3))
    loopback.add(Reply(drop=True))
    with pytest.raises(msl.APIConnectionError):
        call(doc(loopback.url))


def test_validate_config() -> None:
    with pytest.raises(msl.ConfigurationError) as info:
        REGISTRY.get_sdk("Anthropic").validate_config(
            {"name": "c", "endpoint": "http://api.anthropic.com"}
        )
    assert set(info.value.fields) == {"endpoint", "deployment"}
    assert "https://" in str(info.value)


def test_stream_and_async_against_the_spec_server(peer: Callable[[str], str]) -> None:
    model = doc(peer("anthropic"))
    with stream_with_model(model, "S", "Hi", api_key=CANARY, registry=REGISTRY) as s:
        assert "".join(s) == s.text
    assert s.result.text

    async def run() -> tuple[str, str]:
        done = await acomplete_with_model(model, "S", "Hi", api_key=CANARY, registry=REGISTRY)
        streamed = await astream_with_model(model, "S", "Hi", api_key=CANARY, registry=REGISTRY)
        return done.text, (await streamed.until_done()).text

    assert all(asyncio.run(run()))


def test_stream_yields_text_deltas_and_usage(loopback: LoopbackServer) -> None:
    loopback.add(stream(["Hel", "lo", "!"]))
    with stream_with_model(doc(loopback.url), "S", "U", api_key=CANARY, registry=REGISTRY) as s:
        assert list(s) == ["Hel", "lo", "!"]
    assert (s.result.text, s.result.usage, s.result.request_id) == (
        "Hello!",
        (12, 5, 17),
        "req_ant",
    )


def test_astream_and_acomplete(loopback: LoopbackServer) -> None:
    loopback.add(stream(["a", "b"]), stream(["c", "d"]))

    async def run() -> tuple[list[str], msl.CompletionResult, msl.CompletionResult]:
        s = await astream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY)
        chunks = [c async for c in s]
        done = await acomplete_with_model(
            doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY
        )
        return chunks, s.result, done

    chunks, streamed, done = asyncio.run(run())
    assert chunks == ["a", "b"] and streamed.usage == (12, 5, 17)
    assert done.text == "cd" and done.finish_reason == "stop"


def test_stream_cut_mid_way(loopback: LoopbackServer) -> None:
    reply = stream(["one ", "two ", "three ", "four "])
    loopback.add(type(reply)(reply.status, reply.body, reply.headers, reply.chunks, cut_after=4))
    s = stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY)
    with pytest.raises(msl.APIConnectionError) as info:
        for _ in s:
            pass
    assert info.value.partial_text == "one two "


def _slow(n: int) -> Any:
    reply = stream([f"w{i} " for i in range(n)])
    return type(reply)(reply.status, reply.body, reply.headers, reply.chunks, chunk_delay=0.05)


def test_closing_early_closes_the_connection(loopback: LoopbackServer) -> None:
    loopback.add(_slow(40))
    s = stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY)
    assert next(s) == "w0 "
    s.close()
    assert loopback.wait_for_disconnect(2.0)


def test_cancelled_task_closes_the_connection(loopback: LoopbackServer) -> None:
    loopback.add(_slow(40))

    async def run() -> None:
        s = await astream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY)
        first = asyncio.Event()

        async def consume() -> None:
            async for _ in s:
                first.set()

        task = asyncio.create_task(consume())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert loopback.wait_for_disconnect(2.0)


def test_error_event_inside_the_stream_is_mapped(loopback: LoopbackServer) -> None:
    reply = stream(["partial "])
    assert reply.chunks is not None
    error = (
        b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error",'
        b' "message": "Overloaded"}}\n\n'
    )
    chunks = (*reply.chunks[:3], error)
    loopback.add(type(reply)(reply.status, reply.body, reply.headers, chunks))
    s = stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY)
    with pytest.raises(msl.CompletionError) as info:
        list(s)
    assert "Overloaded" in str(info.value)
    assert info.value.partial_text == "partial "
