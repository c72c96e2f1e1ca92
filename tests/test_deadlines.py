"""Each attempt is bounded in time: a server that trickles bytes cannot hold a call past
its timeout, on every SDK and entry point.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from hostile_servers import MODULES, complete_stream, doc, forms, registry

import metasync_llm as msl
from metasync_llm.testing import LoopbackServer, Reply, wires


def _trickled(sdk: str, *, stream: bool) -> Reply:
    if sdk == "Gemini":
        if stream:  # google-genai's stream reader takes an SSE comment for a JSON chunk
            body = wires.sse_bytes(wires.gemini_chunks(["never", "ends"]), done=False)
            return Reply.trickle(body, every=0.05, size=2, content_type="text/event-stream")
        body = json.dumps(wires.gemini_response("slow")).encode()
        return Reply.trickle(body, every=0.05, size=2)
    if sdk == "Anthropic":
        body = wires.sse_bytes(wires.anthropic_events(["never", "ends"]), named=True, done=False)
        return Reply.trickle(body, every=0.05, size=2, content_type="text/event-stream")
    if stream:
        body = wires.sse_bytes(wires.chat_chunks(["never", "ends"]))
        return Reply.trickle(body, every=0.05, size=2, content_type="text/event-stream")
    return Reply.trickle(json.dumps(wires.chat_completion("slow")).encode(), every=0.05, size=2)


def _keep_alive(count: int, every: float) -> Reply:
    return Reply(
        200, b"", {"Content-Type": "text/event-stream"}, (b": keep-alive\n\n",) * count, every
    )


@pytest.mark.parametrize("sdk", sorted(MODULES))
@pytest.mark.parametrize("form", ["complete", "stream", "acomplete", "astream"])
def test_a_trickling_server_cannot_hold_a_call_past_its_timeout(
    sdk: str, form: str, loopback: LoopbackServer
) -> None:
    reg = registry(sdk)
    streamed = form.endswith("stream")
    keep_alive = streamed and sdk != "Gemini"
    loopback.add(_keep_alive(200, 0.05) if keep_alive else _trickled(sdk, stream=streamed))
    model = doc(sdk, loopback.url, timeout=0.6)
    call = forms(model, reg)[form]
    started = time.monotonic()
    with pytest.raises(msl.APITimeoutError) as info:
        call()
    waited = time.monotonic() - started
    assert waited < 3, f"held for {waited:.1f}s with timeout=0.6"
    assert "still sending" in str(info.value)


@pytest.mark.parametrize("sdk", sorted(MODULES))
@pytest.mark.parametrize("form", ["stream", "astream"])
def test_a_stream_that_keeps_producing_text_may_last_longer(
    sdk: str, form: str, loopback: LoopbackServer
) -> None:
    """``timeout`` bounds the wait for each chunk, not the whole stream (Gemini's async
    stack, aiohttp, would bound the whole of it if given the timeout)."""
    reg = registry(sdk)
    words = [f"w{i} " for i in range(8)]
    reply = complete_stream(sdk, words)
    loopback.add(Reply(reply.status, reply.body, reply.headers, reply.chunks, 0.15))
    model = doc(sdk, loopback.url, timeout=0.6)
    started = time.monotonic()
    result = forms(model, reg)[form]()
    assert result.text == "".join(words)
    assert time.monotonic() - started > 0.6, "the stream outlived one timeout, chunk by chunk"


def test_an_await_is_cancelled_at_the_attempt_deadline() -> None:
    """What a plugin on a stack without transports (aiohttp) bounds its awaits with."""
    from metasync_llm import toolkit
    from metasync_llm._pipeline._attempt import AttemptClock, DeadlineExceeded, current

    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"

    async def sdk_timeout() -> None:
        raise TimeoutError("the SDK's own read timeout")

    async def chunks() -> AsyncIterator[int]:
        for i in range(3):
            await asyncio.sleep(0.01 if i < 2 else 5)
            yield i

    async def run() -> None:
        assert await toolkit.await_within_deadline(slow(0.01)) == "done"  # outside a call
        token = current.set(AttemptClock(0.2, rolling=False))
        try:
            assert await toolkit.await_within_deadline(slow(0.01)) == "done"
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded, match=r"timeout=0\.2s for the whole answer"):
                await toolkit.await_within_deadline(slow(5))
            assert time.monotonic() - started < 1
            with pytest.raises(TimeoutError, match="own read timeout") as info:
                await toolkit.await_within_deadline(sdk_timeout())
            assert not isinstance(info.value, DeadlineExceeded)
            current.set(AttemptClock(0.3, rolling=True))
            seen = []
            with pytest.raises(DeadlineExceeded, match="between two chunks"):
                async for chunk in toolkit.within_deadline(chunks()):
                    seen.append(chunk)
            assert seen == [0, 1]
        finally:
            current.reset(token)

    asyncio.run(run())


def test_creating_a_client_does_not_count_against_the_timeout() -> None:
    """A process's first call imports the client library (Gemini's: ~0.5 s): the timeout
    bounds the server's answer, so the deadline moves by the set-up time."""
    from metasync_llm._pipeline._attempt import AttemptClock, check_deadline, current
    from metasync_llm._wire._clients import timed_setup

    clock = AttemptClock(0.2, rolling=False)
    token = current.set(clock)
    try:
        timed_setup(lambda: time.sleep(0.3))
        check_deadline()  # 0.3 s after the start: the answer's 0.2 s have not begun
        assert clock.setup >= 0.3
        time.sleep(0.25)
        with pytest.raises(TimeoutError):
            check_deadline()
    finally:
        current.reset(token)


@pytest.mark.parametrize("form", ["complete", "acomplete"])
def test_a_byte_every_half_second_is_stopped_at_the_deadline_on_azure_ai_inference(
    form: str, loopback: LoopbackServer
) -> None:
    """The wording of a report against ChatCompletionsClient (azure-core's transport):
    one byte every 0.5 s, ``timeout: 1``, once said to hold a blocking call for 8 s."""
    reg = registry("ChatCompletionsClient")
    body = json.dumps(wires.chat_completion("slow")).encode()
    loopback.add(Reply.trickle(body, every=0.5, size=1))
    model = doc("ChatCompletionsClient", loopback.url, timeout=1)
    started = time.monotonic()
    with pytest.raises(msl.APITimeoutError, match="still sending"):
        forms(model, reg)[form]()
    assert time.monotonic() - started < 3
