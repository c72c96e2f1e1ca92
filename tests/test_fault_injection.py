"""Fault injection: each fault, through each provider plugin's real client, over loopback HTTP.

For every fault the tests show the error raised (no retry), the retry taken (with retries),
the attempts counted, that no partial text is lost, and that a canary API key that the
fault bodies echo back appears nowhere: not in messages, reprs, any link of the chain
(``vars()`` included), ``traceback.format_exception``, or the DEBUG records of any
logger (the client libraries', httpx and httpcore included).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm import PluginRegistry, complete_with_model, stream_with_model
from metasync_llm.testing import LoopbackServer, RecordedRequest, Reply, Responder, wires

KEY = "sk-canary-FAULT-5a8c1f0e9d"


def _openai_ok(text: str) -> Reply:
    return Reply.json(wires.chat_completion(text, usage=SMALL_USAGE))


def _openai_stream(words: list[str], cut_after: int | None = None) -> Reply:
    return Reply.sse(wires.chat_chunks(words, usage=None), cut_after=cut_after)


def _openai_error(status: int, message: str, headers: dict[str, str]) -> Reply:
    return Reply.json(wires.chat_error(message), status=status, headers=headers)


def _openai_empty() -> Reply:
    return Reply.json({**wires.chat_completion(), "choices": []})


def _anthropic_events(words: list[str], cut_after: int | None = None) -> Reply:
    events = wires.anthropic_events(words, input_tokens=3, output_tokens=1)
    # Two events (message_start, content_block_start) come before the first word.
    return Reply.sse(
        events, done=False, named=True, cut_after=None if cut_after is None else cut_after + 2
    )


def _anthropic_error(status: int, message: str, headers: dict[str, str]) -> Reply:
    return Reply.json(wires.anthropic_error(message), status=status, headers=headers)


SMALL_USAGE = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}


def _openai_cut_short() -> Reply:
    return Reply.sse(wires.chat_chunks(["cut "], finish=None, usage=None))


def _openai_error_event() -> Reply:
    events: list[object] = wires.chat_chunks([], finish=None, usage=None)
    events.append({"error": {"message": f"server error for key {KEY}", "type": "server_error"}})
    return Reply.sse(events, done=False)


def _anthropic_cut_short() -> Reply:
    return Reply.sse(wires.anthropic_events(["cut "], stop=None), done=False, named=True)


def _anthropic_error_event() -> Reply:
    error = wires.anthropic_error(f"Overloaded, key {KEY}", kind="overloaded_error")
    return Reply.sse([error], done=False, named=True)


def _gemini_stream(words: list[str], cut_after: int | None = None) -> Reply:
    return Reply.sse(wires.gemini_chunks(words, usage=None), done=False, cut_after=cut_after)


def _gemini_error(status: int, message: str, headers: dict[str, str]) -> Reply:
    body = wires.gemini_error(status, message, "UNAVAILABLE" if status >= 500 else "ERROR")
    return Reply.json(body, status=status, headers=headers)


def _gemini_ok(text: str) -> Responder:
    def reply(request: RecordedRequest) -> Reply:
        if ":streamGenerateContent" in request.path:
            return _gemini_stream([text])
        return Reply.json(wires.gemini_response(text, usage=None))

    return reply


def _gemini_error_event() -> Reply:
    events: list[object] = [wires.gemini_response("", finish=None, usage=None)]
    events.append(wires.gemini_error(500, f"Internal error, key {KEY}", "INTERNAL"))
    return Reply.sse(events, done=False)


@dataclass(frozen=True)
class Wire:
    """One provider's wire format, as the fault server speaks it."""

    module: str
    doc: dict[str, Any]
    path: str
    ok: Callable[[str], Reply | Responder]
    stream: Callable[..., Reply]
    error: Callable[[int, str, dict[str, str]], Reply]
    empty: Callable[[], Reply]
    #: A stream that ends cleanly without the provider's end marker.
    cut_short: Callable[[], Reply]
    #: An error reported inside a stream that began with 200, echoing the key.
    error_event: Callable[[], Reply]
    #: Whether a blocking call reads a stream (else a plain JSON request: the two faults
    #: only a stream can have are then tried through a stream, before its first text).
    streams_blocking_calls: bool = True


WIRES = {
    "OpenAI": Wire(
        "metasync_llm_openai",
        {"deployment": "gpt"},
        "/v1",
        _openai_ok,
        _openai_stream,
        _openai_error,
        _openai_empty,
        _openai_cut_short,
        _openai_error_event,
    ),
    "AzureOpenAI": Wire(
        "metasync_llm_azure_openai",
        {"deployment": "gpt", "apiVersion": "2024-10-21"},
        "",
        _openai_ok,
        _openai_stream,
        _openai_error,
        _openai_empty,
        _openai_cut_short,
        _openai_error_event,
    ),
    "Anthropic": Wire(
        "metasync_llm_anthropic",
        {"deployment": "claude-opus-5"},
        "",
        lambda text: _anthropic_events([text]),
        _anthropic_events,
        _anthropic_error,
        lambda: _anthropic_events([]),
        _anthropic_cut_short,
        _anthropic_error_event,
    ),
    "Gemini": Wire(
        "metasync_llm_gemini",
        {"deployment": "gemini-2.5-flash"},
        "",
        _gemini_ok,
        _gemini_stream,
        _gemini_error,
        lambda: Reply.json({**wires.gemini_response(), "candidates": []}),
        lambda: Reply.sse(wires.gemini_chunks([""], finish=None, usage=None), done=False),
        _gemini_error_event,
        streams_blocking_calls=False,
    ),
    "ChatCompletionsClient": Wire(
        "metasync_llm_azure_inference",
        {"deployment": "m", "apiVersion": "2025-04-01"},
        "",
        _openai_ok,
        _openai_stream,
        _openai_error,
        _openai_empty,
        _openai_cut_short,
        _openai_error_event,
    ),
}

#: fault name -> (reply for a wire, expected error class, retried?)
FAULTS: dict[str, tuple[Callable[[Wire], Reply], type[msl.MetasyncLLMError], bool]] = {
    "429 with Retry-After": (
        lambda w: w.error(429, f"Rate limit for key {KEY}", {"retry-after": "0"}),
        msl.RateLimitError,
        True,
    ),
    "429 without Retry-After": (
        lambda w: w.error(429, "Too many requests", {}),
        msl.RateLimitError,
        True,
    ),
    "500": (lambda w: w.error(500, f"Internal error, key {KEY}", {}), msl.ServerError, True),
    "502": (
        lambda w: Reply(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}),
        msl.ServerError,
        True,
    ),
    "503": (lambda w: w.error(503, "Overloaded", {}), msl.ServerError, True),
    "connection reset": (lambda w: Reply(drop=True), msl.APIConnectionError, True),
    "stall past the read timeout": (lambda w: Reply(delay=1.5), msl.APITimeoutError, True),
    "truncated body": (
        lambda w: Reply(
            200, b'{"id": "c", "choi', {"Content-Type": "application/json"}, missing_bytes=40
        ),
        msl.APIConnectionError,
        True,
    ),
    "invalid body": (
        lambda w: Reply(200, b"<<not json>>", {"Content-Type": "application/json"}),
        msl.CompletionError,
        False,
    ),
    "empty choice list": (lambda w: w.empty(), msl.EmptyResponseError, False),
    "401": (
        lambda w: w.error(401, f"Incorrect API key provided: {KEY}", {}),
        msl.AuthenticationError,
        False,
    ),
    "400 context window": (
        lambda w: w.error(400, "This model's maximum context length is 8192 tokens", {}),
        msl.ContextWindowExceededError,
        False,
    ),
    "ends without its end marker": (lambda w: w.cut_short(), msl.IncompleteResponseError, True),
    "error event inside the stream": (lambda w: w.error_event(), msl.ServerError, True),
    "trickle past the timeout": (
        lambda w: Reply.trickle(b'{"id": "slow", "choices": []}', every=0.1),
        msl.APITimeoutError,
        True,
    ),
    "huge error body echoing the key": (
        lambda w: w.error(400, "invalid " + "x" * 2_000_000 + f" {KEY}", {}),
        msl.BadRequestError,
        False,
    ),
}

FAST_RETRY = {"attempts": 3, "initialDelay": 0.01, "maxDelay": 0.02}
STREAM_FAULTS = frozenset({"ends without its end marker", "error event inside the stream"})


def _call(sdk: str, fault: str, model: dict[str, Any], registry: PluginRegistry) -> Any:
    """The blocking call a fault is tried with (see ``Wire.streams_blocking_calls``)."""
    if fault in STREAM_FAULTS and not WIRES[sdk].streams_blocking_calls:
        return stream_with_model(model, "", "hi", api_key=KEY, registry=registry).until_done()
    return complete_with_model(model, "", "hi", api_key=KEY, registry=registry)


def _doc(sdk: str, server: LoopbackServer, retry: dict[str, Any]) -> dict[str, Any]:
    wire = WIRES[sdk]
    return {
        "name": f"{sdk}-faults",
        "sdk": sdk,
        "endpoint": server.url + wire.path,
        "key": "KEY-FAULTS",
        "timeout": 0.5,
        "retry": retry,
        **wire.doc,
    }


def _registry(sdk: str) -> PluginRegistry:
    if importlib.util.find_spec(WIRES[sdk].module) is None:
        if os.environ.get("METASYNC_REQUIRE_PEERS") == "1":
            pytest.fail(f"{WIRES[sdk].module} is not installed")
        pytest.skip(f"{WIRES[sdk].module} is not installed")
    return _REGISTRIES.setdefault(sdk, PluginRegistry(allow={sdk}))


_REGISTRIES: dict[str, PluginRegistry] = {}


def _assert_no_key(err: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    assert KEY not in "".join(traceback.format_exception(err)), "key leaked in a traceback"
    todo: list[BaseException] = [err]
    seen: set[int] = set()
    while todo:  # every link, by __cause__ and by __context__
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for text in (str(current), repr(current), repr(vars(current)), repr(current.args)):
            assert KEY not in text, f"key leaked in {type(current).__name__}"
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    assert KEY not in str(getattr(err, "partial_text", "") or "")
    for record in caplog.records:
        assert KEY not in record.getMessage(), f"key leaked in a log record of {record.name}"


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("sdk", sorted(WIRES))
def test_fault_without_retry_raises_the_right_error(
    sdk: str, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = _registry(sdk)
    make, expected, _ = FAULTS[fault]
    caplog.set_level(logging.DEBUG)
    with LoopbackServer() as server:
        server.add(make(WIRES[sdk]))
        with pytest.raises(expected) as info:
            _call(sdk, fault, _doc(sdk, server, {"attempts": 1}), registry)
        assert len(server.requests) == 1
    err = info.value
    assert not isinstance(err, ValueError), "a provider fault is never a configuration error"
    assert (err.sdk, err.model, err.attempts) == (sdk, f"{sdk}-faults", 1)
    if fault not in ("empty choice list", "ends without its end marker"):
        assert err.__cause__ is not None  # the others wrap (a scrubbed copy of) what was raised
    if fault == "429 with Retry-After":
        assert isinstance(err, msl.RateLimitError) and err.retry_after == 0
    if fault in ("500", "502", "503", "401"):
        assert err.status == int(fault)
    _assert_no_key(err, caplog)


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("sdk", sorted(WIRES))
def test_fault_then_success_is_retried_only_when_safe(
    sdk: str, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = _registry(sdk)
    make, expected, retried = FAULTS[fault]
    wire = WIRES[sdk]
    caplog.set_level(logging.DEBUG)
    with LoopbackServer() as server:
        server.add(make(wire), wire.ok("recovered"))
        model = _doc(sdk, server, FAST_RETRY)
        if retried:
            result = _call(sdk, fault, model, registry)
            assert (result.text, result.attempts) == ("recovered", 2)
            assert len(server.requests) == 2
        else:
            with pytest.raises(expected) as info:
                _call(sdk, fault, model, registry)
            assert info.value.attempts == 1 and len(server.requests) == 1
            _assert_no_key(info.value, caplog)
    for record in caplog.records:
        assert KEY not in record.getMessage()


@pytest.mark.parametrize("sdk", sorted(WIRES))
def test_retries_stop_at_the_attempt_limit(sdk: str) -> None:
    registry = _registry(sdk)
    wire = WIRES[sdk]
    with LoopbackServer() as server:
        server.add(*[wire.error(503, "Overloaded", {})] * 5)
        with pytest.raises(msl.ServerError) as info:
            complete_with_model(
                _doc(sdk, server, FAST_RETRY), "", "hi", api_key=KEY, registry=registry
            )
        assert info.value.attempts == 3 and len(server.requests) == 3


@pytest.mark.parametrize("sdk", sorted(WIRES))
def test_stream_cut_mid_way_is_not_retried_and_keeps_the_text(
    sdk: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry = _registry(sdk)
    wire = WIRES[sdk]
    with LoopbackServer() as server:
        server.add(
            wire.stream(["alpha ", "beta ", "gamma ", "delta "], cut_after=2), wire.ok("never used")
        )
        stream = stream_with_model(
            _doc(sdk, server, FAST_RETRY), "", "hi", api_key=KEY, registry=registry
        )
        received = []
        with pytest.raises(msl.APIConnectionError) as info:
            for chunk in stream:
                received.append(chunk)
        assert len(server.requests) == 1, "a stream that produced text must not be retried"
    assert "".join(received) == "alpha beta " == info.value.partial_text
    assert info.value.attempts == 1
    _assert_no_key(info.value, caplog)


@pytest.mark.parametrize("sdk", sorted(WIRES))
def test_stream_failing_before_its_first_chunk_is_retried(sdk: str) -> None:
    registry = _registry(sdk)
    wire = WIRES[sdk]
    with LoopbackServer() as server:
        server.add(wire.error(503, "Overloaded", {}), wire.stream(["ok ", "now"]))
        with stream_with_model(
            _doc(sdk, server, FAST_RETRY), "", "hi", api_key=KEY, registry=registry
        ) as stream:
            assert "".join(stream) == "ok now"
        assert stream.result.attempts == 2 and len(server.requests) == 2


def test_retry_after_is_honoured_and_the_deadline_bounds_waiting() -> None:
    registry = _registry("OpenAI")
    wire = WIRES["OpenAI"]
    with LoopbackServer() as server:
        server.add(wire.error(429, "slow down", {"retry-after": "0.4"}), wire.ok("done"))
        result = complete_with_model(
            _doc("OpenAI", server, FAST_RETRY), "", "hi", api_key=KEY, registry=registry
        )
        assert result.attempts == 2 and result.elapsed >= 0.4
        # A Retry-After beyond the deadline ends the call at once instead of waiting.
        server.add(wire.error(429, "come back in an hour", {"retry-after": "3600"}))
        model = _doc("OpenAI", server, {**FAST_RETRY, "deadline": 5})
        with pytest.raises(msl.RateLimitError) as info:
            complete_with_model(model, "", "hi", api_key=KEY, registry=registry)
        assert info.value.attempts == 1 and info.value.retry_after == 3600


def test_per_call_retry_policy_overrides_the_document() -> None:
    registry = _registry("OpenAI")
    wire = WIRES["OpenAI"]
    with LoopbackServer() as server:
        server.add(wire.error(500, "boom", {}), wire.ok("second"))
        model = _doc("OpenAI", server, {"attempts": 1})
        policy = msl.RetryPolicy(attempts=2, initial_delay=0.01)
        result = complete_with_model(model, "", "hi", api_key=KEY, registry=registry, retry=policy)
        assert result.attempts == 2


def test_faults_replace_nothing_in_a_reused_policy() -> None:
    policy = msl.RetryPolicy()
    assert replace(policy, attempts=5).attempts == 5 and policy.attempts == 3


@contextmanager
def _unanswered_port() -> Iterator[int]:
    """A loopback port whose accept queue is full: new connections hang in SYN_SENT."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)
    try:
        yield port
    finally:
        for sock in (*fillers, listener):
            sock.close()


@pytest.mark.parametrize("sdk", sorted(WIRES))
@pytest.mark.parametrize("form", ["complete", "acomplete"])
def test_connect_timeout_from_the_document(sdk: str, form: str) -> None:
    """A server whose backlog is full never accepts: ``connectTimeout`` ends the wait, on
    every SDK's sync and async stack (Gemini's async one is aiohttp when installed)."""
    registry = _registry(sdk)
    with _unanswered_port() as port:
        model = {
            "name": "c",
            "sdk": sdk,
            "endpoint": f"http://127.0.0.1:{port}",
            "key": "K",
            "timeout": 30,
            "connectTimeout": 0.3,
            "retry": {"attempts": 1},
            **WIRES[sdk].doc,
        }
        started = time.monotonic()
        with pytest.raises((msl.APITimeoutError, msl.APIConnectionError)):
            if form == "complete":
                complete_with_model(model, "", "hi", api_key=KEY, registry=registry)
            else:
                asyncio.run(
                    msl.acomplete_with_model(model, "", "hi", api_key=KEY, registry=registry)
                )
        assert time.monotonic() - started < 10, "the connect timeout was not applied"


@pytest.mark.parametrize("sdk", sorted(WIRES))
def test_a_key_echoed_in_response_headers_stays_out_of_every_log_record(
    sdk: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A gateway that echoes the key in a header: httpcore logs response headers at DEBUG."""
    import dataclasses

    registry = _registry(sdk)
    wire = WIRES[sdk]
    caplog.set_level(logging.DEBUG)
    echoing = {"x-echo-authorization": f"Bearer {KEY}", "x-api-key": KEY}
    with LoopbackServer() as server:

        def echo(reply: Reply) -> Reply:
            return dataclasses.replace(reply, headers={**reply.headers, **echoing})

        for answer in (wire.ok("fine"), wire.stream(["a ", "b"])):
            if isinstance(answer, Reply):
                server.add(echo(answer))
            else:  # a responder (Gemini's answers depend on the request)
                server.add(lambda request, answer=answer: echo(answer(request)))
        model = _doc(sdk, server, FAST_RETRY)
        assert complete_with_model(model, "", "hi", api_key=KEY, registry=registry).text
        with stream_with_model(model, "", "hi", api_key=KEY, registry=registry) as stream:
            assert "".join(stream)
    header_records = [r for r in caplog.records if "x-api-key" in r.getMessage().lower()]
    assert header_records or sdk == "ChatCompletionsClient", "no record of the headers to check"
    for record in caplog.records:
        assert KEY not in record.getMessage(), f"key in a log record of {record.name}"
