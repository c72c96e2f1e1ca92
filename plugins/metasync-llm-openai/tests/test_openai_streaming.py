"""OpenAI plugin streaming and asyncio over real HTTP: spec server, loopback SSE, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm import (
    PluginRegistry,
    acomplete_with_model,
    astream_with_model,
    stream_with_model,
)
from metasync_llm.testing import LoopbackServer, RecordedRequest, Reply, wires

REGISTRY = PluginRegistry(allow={"OpenAI"})
KEY = "sk-stream-canary-3e1f"


def doc(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "gpt-stream",
        "sdk": "OpenAI",
        "endpoint": endpoint,
        "deployment": "gpt-4o",
        "key": "KEY-X",
        "retry": {"attempts": 1},  # retries have their own tests
        **extra,
    }


def chunk(content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    return wires.chat_chunk(content, finish, model="gpt-4o")


def sse(words: list[str], *, usage: bool = True, **kwargs: Any) -> Reply:
    counts = {"prompt_tokens": 5, "completion_tokens": len(words), "total_tokens": 5 + len(words)}
    events = wires.chat_chunks(words, usage=counts if usage else None, model="gpt-4o")
    return Reply.sse(events, headers={"x-request-id": "req-s"}, **kwargs)


def test_stream_against_the_spec_server(peer: Callable[[str], str]) -> None:
    model = doc(peer("openai"))
    with stream_with_model(model, "", "Hi", api_key=KEY, registry=REGISTRY) as stream:
        chunks = list(stream)
    assert chunks and "".join(chunks) == stream.result.text


def test_async_forms_against_the_spec_server(peer: Callable[[str], str]) -> None:
    model = doc(peer("openai"))

    async def run() -> tuple[msl.CompletionResult, msl.CompletionResult]:
        done = await acomplete_with_model(model, "", "Hi", api_key=KEY, registry=REGISTRY)
        stream = await astream_with_model(model, "", "Hi", api_key=KEY, registry=REGISTRY)
        return done, await stream.until_done()

    done, streamed = asyncio.run(run())
    assert done.text and streamed.text


def test_stream_chunks_usage_and_request(loopback: LoopbackServer) -> None:
    loopback.add(sse(["Hel", "lo", " you"]))
    with stream_with_model(
        doc(loopback.url), "S. ", "U.", api_key=KEY, max_tokens=20, registry=REGISTRY
    ) as stream:
        assert list(stream) == ["Hel", "lo", " you"]
    result = stream.result
    assert (result.text, result.usage, result.finish_reason) == ("Hello you", (5, 3, 8), "stop")
    assert result.request_id == "req-s" and result.time_to_first_chunk is not None
    body = loopback.requests[0].json()
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 20


def test_stream_without_usage_chunk_has_unknown_usage(loopback: LoopbackServer) -> None:
    loopback.add(sse(["a"], usage=False))
    with stream_with_model(doc(loopback.url), "", "x", api_key=KEY, registry=REGISTRY) as s:
        list(s)
    assert s.result.usage == (None, None, None)


def test_stream_cut_mid_way(loopback: LoopbackServer) -> None:
    loopback.add(sse(["one ", "two ", "three ", "four "], cut_after=2))
    stream = stream_with_model(doc(loopback.url), "", "x", api_key=KEY, registry=REGISTRY)
    with pytest.raises(msl.APIConnectionError) as info:
        for _ in stream:
            pass
    assert info.value.partial_text == "one two "
    assert KEY not in str(info.value)


def test_error_status_before_the_stream(loopback: LoopbackServer) -> None:
    loopback.add(
        Reply.json({"error": {"message": "slow down"}}, status=429, headers={"retry-after": "2"})
    )
    with pytest.raises(msl.RateLimitError) as info:
        list(stream_with_model(doc(loopback.url), "", "x", api_key=KEY, registry=REGISTRY))
    assert info.value.retry_after == 2 and info.value.partial_text == ""


def test_closing_a_stream_early_closes_the_connection(loopback: LoopbackServer) -> None:
    loopback.add(sse([f"w{i} " for i in range(40)], chunk_delay=0.05))
    stream = stream_with_model(doc(loopback.url), "", "x", api_key=KEY, registry=REGISTRY)
    assert next(stream) == "w0 "
    stream.close()
    assert loopback.wait_for_disconnect(2.0), "the HTTP stream stayed open after close()"


def test_cancelling_an_async_stream_closes_the_connection(loopback: LoopbackServer) -> None:
    loopback.add(sse([f"w{i} " for i in range(40)], chunk_delay=0.05))

    async def run() -> list[str]:
        received: list[str] = []
        stream = await astream_with_model(
            doc(loopback.url), "", "x", api_key=KEY, registry=REGISTRY
        )

        async def consume() -> None:
            async for piece in stream:
                received.append(piece)

        task = asyncio.create_task(consume())
        while not received:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return received

    received = asyncio.run(run())
    assert received and len(received) < 40
    assert loopback.wait_for_disconnect(2.0), "the HTTP stream stayed open after cancel"


def _echo(request: RecordedRequest) -> Reply:
    prompt = request.json()["messages"][0]["content"]
    time.sleep(0.01)
    return Reply.json(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": prompt},
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )


def test_many_concurrent_acompletes_reach_the_right_caller() -> None:
    with LoopbackServer(default=_echo) as server:
        model = doc(server.url)

        async def one(i: int) -> tuple[int, str]:
            result = await acomplete_with_model(
                model, "", f"caller-{i}", api_key=KEY, registry=REGISTRY
            )
            return i, result.text

        async def run() -> list[tuple[int, str]]:
            return await asyncio.gather(*(one(i) for i in range(100)))

        answers = asyncio.run(run())
        assert len(server.requests) == 100
    assert all(text == f"caller-{i}" for i, text in answers)
    # One async client served them all, over a pool of connections.
    assert len({r.client for r in server.requests}) < 100


def test_async_clients_belong_to_their_event_loop(loopback: LoopbackServer) -> None:
    """Two asyncio.run calls: the second must not reuse the first loop's dead client."""
    loopback.add(Reply.json(_echo_body("a")), Reply.json(_echo_body("b")))
    for expected in ("a", "b"):
        result = asyncio.run(
            acomplete_with_model(doc(loopback.url), "", "x", api_key=KEY, registry=REGISTRY)
        )
        assert result.text == expected


def _echo_body(text: str) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
    }
