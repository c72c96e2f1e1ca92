"""Servers that misbehave: streams that end early or carry errors, impossible numbers,
huge error bodies, and the headers and bodies that say when to retry. Real loopback
servers, through the public API.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from hostile_servers import (
    BLOCKING_JSON,
    CHAT_SDKS,
    KEY,
    MODULES,
    anthropic_stream,
    assert_no_key,
    complete_stream,
    cut_short,
    doc,
    error_body,
    registry,
)

import metasync_llm as msl
from metasync_llm import (
    acomplete_with_model,
    astream_with_model,
    complete_with_model,
    stream_with_model,
)
from metasync_llm.cli import main as cli
from metasync_llm.testing import LoopbackServer, Reply, wires


@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_a_stream_without_its_end_marker_is_an_error_with_the_partial_text(
    sdk: str, loopback: LoopbackServer
) -> None:
    reg = registry(sdk)
    loopback.add(cut_short(sdk, ["half ", "an "]), cut_short(sdk, ["half ", "an "]))
    model = doc(sdk, loopback.url)
    stream = stream_with_model(model, "", "hi", api_key=KEY, registry=reg)
    received = []
    with pytest.raises(msl.IncompleteResponseError) as info:
        for chunk in stream:
            received.append(chunk)
    assert isinstance(info.value, msl.APIConnectionError)
    assert info.value.partial_text == "half an " == "".join(received)
    if sdk in BLOCKING_JSON:
        return  # a JSON body is whole or cut (a connection error): it has no end marker
    with pytest.raises(msl.IncompleteResponseError) as blocking:
        complete_with_model(model, "", "hi", api_key=KEY, registry=reg)
    assert blocking.value.partial_text == "half an "


@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_a_cut_short_answer_is_retried_when_nothing_was_handed_out(
    sdk: str, loopback: LoopbackServer
) -> None:
    reg = registry(sdk)
    model = doc(sdk, loopback.url, retry={"attempts": 2, "initialDelay": 0.01})
    if sdk not in BLOCKING_JSON:
        loopback.add(cut_short(sdk, ["lost "]), complete_stream(sdk, ["whole ", "answer"]))
        result = complete_with_model(model, "", "hi", api_key=KEY, registry=reg)
        assert (result.text, result.attempts) == ("whole answer", 2)

    loopback.add(cut_short(sdk, ["seen "]), complete_stream(sdk, ["never"]))

    async def run() -> msl.IncompleteResponseError:
        async with astream_with_model(model, "", "hi", api_key=KEY, registry=reg) as stream:
            with pytest.raises(msl.IncompleteResponseError) as info:
                async for _ in stream:
                    pass
        return info.value

    error = asyncio.run(run())
    assert (error.partial_text, error.attempts) == ("seen ", 1), "text was handed out"


@pytest.mark.parametrize("sdk", CHAT_SDKS)
def test_an_error_event_inside_a_stream_is_raised_with_the_partial_text(
    sdk: str, loopback: LoopbackServer
) -> None:
    reg = registry(sdk)
    events: list[object] = wires.chat_chunks(["partial "], finish=None, usage=None)
    events.append({"error": {"message": "The server had an error", "type": "server_error"}})
    loopback.add(Reply.sse(events, done=False))
    with pytest.raises(msl.ServerError) as info:
        list(stream_with_model(doc(sdk, loopback.url), "", "hi", api_key=KEY, registry=reg))
    assert info.value.partial_text == "partial "
    assert "The server had an error" in str(info.value) and info.value.status is None


@pytest.mark.parametrize("sdk", CHAT_SDKS)
def test_keep_alive_comments_are_valid_sse(sdk: str, loopback: LoopbackServer) -> None:
    reg = registry(sdk)
    body = wires.sse_bytes(wires.chat_chunks(["a ", "b"], usage=None))
    chunks = (b": keep-alive\n\n", *body.split(b"\n\n")[:-1])
    loopback.add(
        Reply(
            200,
            b"",
            {"Content-Type": "text/event-stream"},
            tuple(c if c.startswith(b":") else c + b"\n\n" for c in chunks),
        )
    )
    with stream_with_model(doc(sdk, loopback.url), "", "hi", api_key=KEY, registry=reg) as s:
        assert "".join(s) == "a b"


@pytest.mark.parametrize("sdk", CHAT_SDKS)
def test_a_malformed_line_keeps_the_partial_text_sync_and_async(
    sdk: str, loopback: LoopbackServer
) -> None:
    reg = registry(sdk)
    good = wires.sse_bytes(wires.chat_chunks(["kept "], finish=None, usage=None), done=False)
    bad = Reply(200, b"", {"Content-Type": "text/event-stream"}, (good, b"data: {not json\n\n"))
    loopback.add(bad, bad)
    model = doc(sdk, loopback.url)
    with pytest.raises(msl.CompletionError) as sync_error:
        list(stream_with_model(model, "", "hi", api_key=KEY, registry=reg))

    async def run() -> msl.CompletionError:
        async with astream_with_model(model, "", "hi", api_key=KEY, registry=reg) as stream:
            with pytest.raises(msl.CompletionError) as info:
                async for _ in stream:
                    pass
        return info.value

    async_error = asyncio.run(run())
    for error in (sync_error.value, async_error):
        assert not isinstance(error, ValueError), "a bad body is not a bad document"
        assert error.partial_text == "kept "


def test_an_overload_as_the_first_event_is_a_retried_server_error(
    loopback: LoopbackServer,
) -> None:
    reg = registry("Anthropic")
    overloaded = Reply(
        200,
        b"",
        {"Content-Type": "text/event-stream"},
        (
            b"event: error\ndata: "
            + json.dumps(wires.anthropic_error("Overloaded", kind="overloaded_error")).encode()
            + b"\n\n",
        ),
    )
    loopback.add(overloaded, anthropic_stream(["fine"]))
    model = doc("Anthropic", loopback.url, retry={"attempts": 2, "initialDelay": 0.01})
    result = complete_with_model(model, "", "hi", api_key=KEY, registry=reg)
    assert (result.text, result.attempts) == ("fine", 2)
    loopback.add(overloaded)
    with pytest.raises(msl.ServerError) as info:
        complete_with_model(doc("Anthropic", loopback.url), "", "hi", api_key=KEY, registry=reg)
    assert "overloaded_error" in str(info.value) and "HTTP 200" not in str(info.value)


@pytest.mark.parametrize("sdk", sorted(MODULES))
@pytest.mark.parametrize(
    "counts",
    [
        {"prompt_tokens": 10**400, "completion_tokens": 2, "total_tokens": 10**400},
        {"prompt_tokens": "12", "completion_tokens": True, "total_tokens": 10**30},
        {"prompt_tokens": -2147483648, "completion_tokens": 1.5, "total_tokens": None},
    ],
)
def test_impossible_counts_are_unknown_and_costs_stay_numbers(
    sdk: str, counts: dict[str, Any], loopback: LoopbackServer
) -> None:
    reg = registry(sdk)
    if sdk == "Gemini":
        usage = {
            "promptTokenCount": counts["prompt_tokens"],
            "candidatesTokenCount": counts["completion_tokens"],
            "totalTokenCount": counts["total_tokens"],
        }
        loopback.add(Reply.json(wires.gemini_response("ok", usage=usage)))
    elif sdk == "Anthropic":
        events = wires.anthropic_events(["ok"])
        events[0]["message"]["usage"]["input_tokens"] = counts["prompt_tokens"]
        events[-2]["usage"]["output_tokens"] = counts["completion_tokens"]
        loopback.add(
            Reply(
                200,
                wires.sse_bytes(events, named=True, done=False),
                {"Content-Type": "text/event-stream"},
            )
        )
    else:
        body = json.dumps(wires.chat_completion("ok", usage=counts)).encode()
        loopback.add(Reply(200, body, {"Content-Type": "application/json"}))
    cost = {"tokens": 1000, "currency": "USD", "input": 1, "output": 2}
    result = complete_with_model(
        doc(sdk, loopback.url, cost=cost), "", "hi", api_key=KEY, registry=reg
    )
    assert result.prompt_tokens is None and result.total_tokens is None
    assert result.cost is not None and (result.cost.input, result.cost.total) == (None, None)
    if counts["completion_tokens"] == 2:
        assert result.completion_tokens == 2 and result.cost.output == 0.004
    else:
        assert result.completion_tokens is None


def test_the_cli_prints_no_traceback_for_impossible_numbers(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    registry("OpenAI")
    body = wires.chat_completion("ok", usage={"prompt_tokens": 10**400, "completion_tokens": 1})
    loopback.add(Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"}))
    model = tmp_path / "m.json"
    model.write_text(
        json.dumps(doc("OpenAI", loopback.url, cost={"tokens": 1, "input": 1, "output": 1}))
    )
    out, err = io.StringIO(), io.StringIO()
    os.environ["KEY_HARD"] = KEY
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv("METASYNC_LLM_SDKS", raising=False)
            msl.SDKRegistry.refresh()
            code = cli(["complete", "--model", str(model), "hi"], stdout=out, stderr=err)
    finally:
        del os.environ["KEY_HARD"]
        msl.SDKRegistry.refresh()
    assert code == 0, err.getvalue()
    assert out.getvalue() == "ok\n" and "tokens ? in / 1 out" in err.getvalue()


@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_a_huge_error_body_gives_a_readable_message_without_stalling_the_loop(
    sdk: str, loopback: LoopbackServer
) -> None:
    reg = registry(sdk)
    huge = "context_length_exceeded " + "x" * 5_000_000 + f" {KEY}"
    body = error_body(sdk, huge, "invalid_request_error")
    loopback.add(Reply.json(body, status=400))

    async def run() -> tuple[msl.CompletionError, float]:
        gaps: list[float] = []

        async def tick() -> None:
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticker = asyncio.create_task(tick())
        with pytest.raises(msl.BadRequestError) as info:
            await acomplete_with_model(doc(sdk, loopback.url), "", "hi", api_key=KEY, registry=reg)
        ticker.cancel()
        return info.value, max(gaps or [0])

    error, _gap = asyncio.run(run())
    assert isinstance(error, msl.ContextWindowExceededError)
    assert len(str(error)) < 3000 and "more characters" in str(error)
    assert_no_key(error)


class _SpeakeasyError(Exception):
    """As mistralai (a Speakeasy SDK) raises: status and headers on the exception itself,
    and the httpx response as ``raw_response``."""

    def __init__(self, status_code: int, headers: dict[str, str], **extra: object) -> None:
        super().__init__("Rate limit exceeded")
        self.status_code = status_code
        self.body = '{"message": "Rate limit exceeded"}'
        self.headers = headers
        for name, value in extra.items():
            setattr(self, name, value)


def test_retry_after_is_read_wherever_common_sdks_keep_the_headers() -> None:
    from types import SimpleNamespace

    from metasync_llm._wire._mapping import error_from_exception

    on_itself = _SpeakeasyError(429, {"Retry-After": "7"})
    in_raw = _SpeakeasyError(429, {}, raw_response=SimpleNamespace(headers={"retry-after": "8"}))
    in_http = _SpeakeasyError(
        429, {}, http_response=SimpleNamespace(headers={"retry-after-ms": "9000"})
    )
    for exc, seconds in ((on_itself, 7), (in_raw, 8), (in_http, 9)):
        error = error_from_exception(exc, sdk="Mistral", model="m")
        assert isinstance(error, msl.RateLimitError) and error.retry_after == seconds


def test_a_retry_info_that_cannot_be_read_leaves_retry_after_unknown() -> None:
    from metasync_llm._wire._mapping import provider_error

    for delay in ({"seconds": "soon"}, {"seconds": True}, "37 minutes", {"seconds": "3"}):
        body = {"error": {"details": [{"@type": "google.rpc.RetryInfo", "retryDelay": delay}]}}
        error = provider_error(429, body, None, sdk="Gemini", model="m")
        assert isinstance(error, msl.RateLimitError)
        assert error.retry_after == (3.0 if delay == {"seconds": "3"} else None)
