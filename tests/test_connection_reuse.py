"""Calls share connections: a stream read to its end leaves its connection for the next
call, on every SDK, blocking and async.

A reader stops at the provider's end marker (``data: [DONE]``, ``message_stop``); the
body's end (a chunked body's last, empty chunk) may come later. Closing the body before
it used to close the connection too: every streamed call (every Anthropic call) opened
a new one and left a TIME_WAIT socket behind.
"""

from __future__ import annotations

import asyncio

import pytest
from hostile_servers import KEY, MODULES, complete_stream, doc, registry

from metasync_llm import astream_with_model, stream_with_model
from metasync_llm.testing import LoopbackServer, Reply


def _slow_ending(sdk: str, words: list[str]) -> Reply:
    # chunk_delay also comes between the last event and the end of the body.
    reply = complete_stream(sdk, words)
    return Reply(reply.status, reply.body, reply.headers, reply.chunks, 0.05)


@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_streams_read_to_their_end_share_one_connection(sdk: str, loopback: LoopbackServer) -> None:
    reg = registry(sdk)
    model = doc(sdk, loopback.url)
    texts = []
    for words in (["one"], ["two"], ["three"]):
        loopback.add(_slow_ending(sdk, words))
        with stream_with_model(model, "", "hi", api_key=KEY, registry=reg) as stream:
            texts.append(stream.until_done().text)
    assert texts == ["one", "two", "three"]
    assert len({r.client for r in loopback.requests}) == 1, "a new connection per stream"


@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_async_streams_read_to_their_end_share_one_connection(
    sdk: str, loopback: LoopbackServer
) -> None:
    reg = registry(sdk)
    model = doc(sdk, loopback.url)

    async def run() -> list[str]:
        texts = []
        for words in (["one"], ["two"], ["three"]):
            loopback.add(_slow_ending(sdk, words))
            async with astream_with_model(model, "", "hi", api_key=KEY, registry=reg) as s:
                texts.append((await s.until_done()).text)
        return texts

    assert asyncio.run(run()) == ["one", "two", "three"]
    assert len({r.client for r in loopback.requests}) == 1, "a new connection per stream"


def test_a_server_that_sends_on_after_the_end_marker_does_not_hold_the_answer(
    loopback: LoopbackServer,
) -> None:
    """After ``[DONE]`` the reader drains a few events at most, then lets the connection go."""
    reg = registry("OpenAI")
    reply = complete_stream("OpenAI", ["done"])
    assert reply.chunks is not None
    tail = tuple(b'data: {"choices": []}\n\n' for _ in range(200))
    loopback.add(Reply(reply.status, reply.body, reply.headers, reply.chunks + tail, 0.0))
    with stream_with_model(doc("OpenAI", loopback.url), "", "hi", api_key=KEY, registry=reg) as s:
        assert s.until_done().text == "done"
