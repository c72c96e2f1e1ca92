"""The Gemini plugin over real HTTP (spec server, loopback SSE): blocking, streaming, async."""

from __future__ import annotations

import asyncio
import json
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

REGISTRY = PluginRegistry(allow={"Gemini"})
CANARY = "AIza-canary-5c1d9e7f0b"
USAGE = {"promptTokenCount": 12, "candidatesTokenCount": 5, "totalTokenCount": 17}


def doc(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "gemini-test",
        "sdk": "Gemini",
        "endpoint": endpoint,
        "deployment": "gemini-2.5-flash",
        "key": "KEY-GEMINI",
        "retry": {"attempts": 1},  # retries have their own tests
        **extra,
    }


def call(
    model: dict[str, Any], system: str = "Be brief.", user: str = "Hi", **kwargs: Any
) -> msl.CompletionResult:
    return complete_with_model(model, system, user, api_key=CANARY, registry=REGISTRY, **kwargs)


def stream(
    words: list[str], finish: str | None = "STOP", usage: dict[str, Any] | None = None, **kw: Any
) -> Reply:
    return Reply.sse(
        wires.gemini_chunks(words, finish=finish, usage=usage or USAGE), done=False, **kw
    )


def answer(text: str | None = "Hello", **kwargs: Any) -> Reply:
    return Reply.json(wires.gemini_response(text, **kwargs))


# -- against the Gemini API specification ----------------------------------------------


def test_completion_against_the_gemini_spec_server(peer: Callable[[str], str]) -> None:
    result = call(doc(peer("gemini")), max_tokens=64)
    assert isinstance(result.text, str) and result.text
    # The spec's placeholders: counts of -2147483648 are no counts; non-text parts are skipped.
    assert result.usage == (None, None, None)


def test_stream_and_async_against_the_spec_server(peer: Callable[[str], str]) -> None:
    model = doc(peer("gemini"))
    with stream_with_model(model, "S", "Hi", api_key=CANARY, registry=REGISTRY) as s:
        assert "".join(s) == s.text
    assert s.result.text

    async def run() -> tuple[str, str]:
        done = await acomplete_with_model(model, "S", "Hi", api_key=CANARY, registry=REGISTRY)
        async with astream_with_model(model, "S", "Hi", api_key=CANARY, registry=REGISTRY) as a:
            return done.text, (await a.until_done()).text

    assert all(asyncio.run(run()))


def test_request_the_spec_server_rejects_is_a_bad_request(peer: Callable[[str], str]) -> None:
    bad = {"generationConfig": {"candidateCount": "many"}}  # the spec wants an integer
    with pytest.raises(msl.BadRequestError) as info:
        call(doc(peer("gemini"), extraBody=bad))
    assert info.value.status == 422 and info.value.sdk == "Gemini"
    assert CANARY not in str(info.value)


# -- what goes on the wire ---------------------------------------------------------------


def test_what_is_sent(loopback: LoopbackServer) -> None:
    loopback.add(answer("Hello"))
    result = call(doc(loopback.url), temperature=0.4, max_tokens=77, stop=["END"])
    assert (result.text, result.usage) == ("Hello", (7, 5, 12))
    assert (result.finish_reason, result.request_id) == ("stop", "resp-loopback")
    [sent] = loopback.requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert sent.headers["x-goog-api-key"] == CANARY
    body = sent.json()
    assert body["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert body["generationConfig"] == {
        "temperature": 0.4,
        "maxOutputTokens": 77,
        "stopSequences": ["END"],
    }


def test_streams_ask_for_server_sent_events(loopback: LoopbackServer) -> None:
    loopback.add(stream(["Hel", "lo", "!"]))
    with stream_with_model(doc(loopback.url), "S", "U", api_key=CANARY, registry=REGISTRY) as s:
        assert list(s) == ["Hel", "lo", "!"]
    assert (s.result.usage, s.result.finish_reason) == ((12, 5, 17), "stop")
    assert loopback.requests[0].path == (
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )


def test_api_version_and_extra_body(loopback: LoopbackServer) -> None:
    loopback.add(answer())
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    call(
        doc(
            loopback.url,
            apiVersion="v1",
            omitTemperature=True,
            extraBody={"safetySettings": safety},
        )
    )
    [sent] = loopback.requests
    assert sent.path.startswith("/v1/models/gemini-2.5-flash:")
    assert sent.json()["safetySettings"] == safety
    assert "temperature" not in sent.json()["generationConfig"]


def test_conversation_roles_and_merged_turns(loopback: LoopbackServer) -> None:
    loopback.add(answer())
    turns = [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "three"},
        {"role": "user", "content": "four"},
    ]
    complete_with_model(doc(loopback.url), "S", messages=turns, api_key=CANARY, registry=REGISTRY)
    assert loopback.requests[0].json()["contents"] == [
        {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]},
        {"role": "model", "parts": [{"text": "three"}]},
        {"role": "user", "parts": [{"text": "four"}]},
    ]


def test_a_schema_goes_as_the_response_json_schema(loopback: LoopbackServer) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    loopback.add(answer('{"n": 3}'))
    result = call(doc(loopback.url), schema=schema)
    assert result.data == {"n": 3}
    config = loopback.requests[0].json()["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == schema


def test_system_only_prompt_becomes_the_user_turn(loopback: LoopbackServer) -> None:
    loopback.add(answer())
    call(doc(loopback.url), system="Everything in the system prompt", user="")
    body = loopback.requests[0].json()
    assert "systemInstruction" not in body
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Everything in the system prompt"}]}
    ]


def test_client_is_pooled(loopback: LoopbackServer) -> None:
    loopback.add(answer("a"), answer("b"))
    call(doc(loopback.url))
    call(doc(loopback.url))
    assert len({r.client for r in loopback.requests}) == 1


def test_the_default_endpoint_and_version() -> None:
    sdk = REGISTRY.get_sdk("Gemini")
    model = {"name": "g", "sdk": "Gemini", "deployment": "gemini-2.5-flash", "key": "K"}
    sdk.validate_config(model)
    client = sdk.create_client(model, CANARY, asynchronous=False)
    try:
        options = client._api_client._http_options  # what google-genai will call
        assert (options.base_url, options.api_version) == (
            "https://generativelanguage.googleapis.com",
            "v1beta",
        )
        assert client.vertexai is False
    finally:
        client.close()


# -- reading the answer ------------------------------------------------------------------


def test_thinking_tokens_count_as_completion_tokens(loopback: LoopbackServer) -> None:
    usage = {
        "promptTokenCount": 10,
        "candidatesTokenCount": 4,
        "thoughtsTokenCount": 30,
        "totalTokenCount": 44,
    }
    loopback.add(answer("ok", usage=usage))
    assert call(doc(loopback.url)).usage == (10, 34, 44)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"promptTokenCount": -2147483648, "candidatesTokenCount": 3}, (None, 3, None)),
        ({"promptTokenCount": 5}, (5, None, None)),
        (
            {"promptTokenCount": 5, "candidatesTokenCount": 3, "thoughtsTokenCount": -1},
            (5, None, None),
        ),
        ({"promptTokenCount": 5, "candidatesTokenCount": 3}, (5, 3, 8)),
        (None, (None, None, None)),
    ],
)
def test_counts_omitted_or_impossible_are_none(
    loopback: LoopbackServer, usage: dict[str, int] | None, expected: tuple[Any, ...]
) -> None:
    loopback.add(answer("ok", usage=usage))
    assert call(doc(loopback.url)).usage == expected


def test_thoughts_and_non_text_parts_are_not_the_answer(loopback: LoopbackServer) -> None:
    body = wires.gemini_response("ignored")
    body["candidates"][0]["content"]["parts"] = [
        {"text": "Let me think...", "thought": True},
        {"functionCall": {"name": "f", "args": {}}},
        {"text": "The answer."},
    ]
    loopback.add(Reply.json(body))
    assert call(doc(loopback.url)).text == "The answer."


@pytest.mark.parametrize(
    ("finish", "expected"), [("MAX_TOKENS", "length"), ("OTHER", "other"), ("STOP", "stop")]
)
def test_finish_reasons(loopback: LoopbackServer, finish: str, expected: str) -> None:
    loopback.add(answer("some text", finish=finish), stream(["some ", "text"], finish=finish))
    result = call(doc(loopback.url))
    assert result.finish_reason == expected and result.truncated is (expected == "length")
    with stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY) as s:
        assert "".join(s) == "some text"
    assert s.result.finish_reason == expected


def test_no_text_at_max_tokens_is_truncation(loopback: LoopbackServer) -> None:
    usage = {"promptTokenCount": 3, "thoughtsTokenCount": 60, "totalTokenCount": 63}
    loopback.add(answer(None, finish="MAX_TOKENS", usage=usage))
    with pytest.raises(msl.TruncatedResponseError, match="max_tokens"):
        call(doc(loopback.url))


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT"])
def test_an_answer_stopped_for_its_content_is_a_content_filter_error(
    loopback: LoopbackServer, reason: str
) -> None:
    loopback.add(answer(None, finish=reason))
    with pytest.raises(msl.ContentFilterError, match=reason) as info:
        call(doc(loopback.url))
    assert info.value.request_id == "resp-loopback" and len(loopback.requests) == 1
    # Streamed: the text before the stop is kept as the partial text.
    loopback.add(stream(["It was ", "a dark "], finish=reason))
    s = stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY)
    with pytest.raises(msl.ContentFilterError, match=reason) as info:
        list(s)
    assert info.value.partial_text == "It was a dark "


def test_a_blocked_prompt_is_a_content_filter_error(loopback: LoopbackServer) -> None:
    body = wires.gemini_response(block="PROHIBITED_CONTENT")
    body["promptFeedback"]["blockReasonMessage"] = "The prompt breaks the policy."
    loopback.add(Reply.json(body))
    with pytest.raises(msl.ContentFilterError) as info:
        call(doc(loopback.url))
    assert "prompt was blocked (PROHIBITED_CONTENT): The prompt breaks the policy." in str(
        info.value
    )
    loopback.add(Reply.sse([wires.gemini_response(block="SAFETY")], done=False))
    with pytest.raises(msl.ContentFilterError, match="SAFETY"):
        list(stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY))


def test_counts_are_read_strictly_and_an_unparsable_chunk_is_a_provider_error(
    loopback: LoopbackServer,
) -> None:
    usage = {"promptTokenCount": "12", "candidatesTokenCount": True, "totalTokenCount": 1.5}
    loopback.add(answer("ok", usage=usage))
    assert call(doc(loopback.url)).usage == (None, None, None)
    # google-genai parses a stream's chunks first: a count of 1.5 fails its parsing.
    loopback.add(Reply.sse([wires.gemini_response("ok", usage={"promptTokenCount": 1.5})]))
    with pytest.raises(msl.CompletionError, match="could not read") as info:
        list(stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY))
    assert not isinstance(info.value, msl.ConfigurationError)


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "message", "error"),
    [
        (400, "INVALID_ARGUMENT", "Invalid value at 'contents'", msl.BadRequestError),
        (
            400,
            "INVALID_ARGUMENT",
            "The input token count (1048577) exceeds the maximum number of tokens allowed"
            " (1048576).",
            msl.ContextWindowExceededError,
        ),
        (
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            msl.BadRequestError,
        ),
        (403, "PERMISSION_DENIED", "Permission denied", msl.PermissionDeniedError),
        (404, "NOT_FOUND", "models/gemini-9 is not found", msl.NotFoundError),
        (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted", msl.RateLimitError),
        (500, "INTERNAL", "An internal error has occurred", msl.ServerError),
        (503, "UNAVAILABLE", "The model is overloaded", msl.ServerError),
    ],
)
def test_provider_errors_map_to_the_core_hierarchy(
    loopback: LoopbackServer, status: int, code: str, message: str, error: type
) -> None:
    body = wires.gemini_error(status, f"{message} ({CANARY})", code)
    loopback.add(Reply.json(body, status=status, headers={"retry-after": "11"}))
    with pytest.raises(error) as info:
        call(doc(loopback.url))
    err = info.value
    assert type(err) is error and err.status == status
    assert message in str(err) and CANARY not in str(err)
    if status == 429:
        assert err.retry_after == 11
    assert len(loopback.requests) == 1, "google-genai retried on its own"


@pytest.mark.parametrize(
    ("delay", "seconds"), [("37s", 37.0), ("0.5s", 0.5), ({"seconds": 2, "nanos": 500000000}, 2.5)]
)
def test_a_429_with_retry_info_gives_its_delay(
    loopback: LoopbackServer, delay: object, seconds: float
) -> None:
    """Google sends the delay as google.rpc.RetryInfo in the body, not as Retry-After."""
    body = wires.gemini_error(429, "Quota exceeded for metric ...", "RESOURCE_EXHAUSTED")
    body["error"]["details"] = [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
    ]
    loopback.add(Reply.json(body, status=429))
    with pytest.raises(msl.RateLimitError) as info:
        call(doc(loopback.url))
    assert info.value.retry_after == seconds


def test_error_event_inside_the_stream_is_mapped(loopback: LoopbackServer) -> None:
    events: list[object] = [wires.gemini_response("partial ", finish=None, usage=None)]
    events.append(wires.gemini_error(503, "The model is overloaded", "UNAVAILABLE"))
    loopback.add(Reply.sse(events, done=False))
    s = stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY)
    with pytest.raises(msl.ServerError, match="overloaded") as info:
        list(s)
    assert info.value.partial_text == "partial "


def test_a_stream_without_a_finish_reason_is_incomplete(loopback: LoopbackServer) -> None:
    loopback.add(stream(["cut ", "short"], finish=None))
    with pytest.raises(msl.IncompleteResponseError) as info:
        list(stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY))
    assert info.value.partial_text == "cut short"


def test_timeout_and_connection_failure(loopback: LoopbackServer) -> None:
    loopback.add(Reply(delay=2.0))
    with pytest.raises(msl.APITimeoutError):
        call(doc(loopback.url, timeout=0.3))
    loopback.add(Reply(drop=True))
    with pytest.raises(msl.APIConnectionError):
        call(doc(loopback.url))


def test_validate_config() -> None:
    sdk = REGISTRY.get_sdk("Gemini")
    with pytest.raises(msl.ConfigurationError) as info:
        sdk.validate_config(
            {
                "name": "g",
                "endpoint": "https://generativelanguage.googleapis.com/v1beta",
                "apiVersion": "latest",
                "project": "my-project",
            }
        )
    err = info.value
    assert set(err.fields) == {"deployment", "endpoint", "apiVersion", "project"}
    assert "apiVersion" in str(err) and "Vertex AI" in str(err)
    with pytest.raises(msl.ConfigurationError, match="https://"):
        sdk.validate_config({"deployment": "m", "endpoint": "http://example.com"})


# -- streams: cut, closed, cancelled -----------------------------------------------------


def test_stream_cut_mid_way(loopback: LoopbackServer) -> None:
    loopback.add(stream(["one ", "two ", "three ", "four "], cut_after=2))
    s = stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY)
    with pytest.raises(msl.APIConnectionError) as info:
        for _ in s:
            pass
    assert info.value.partial_text == "one two "


def test_astream_and_acomplete(loopback: LoopbackServer) -> None:
    loopback.add(stream(["a", "b"]), answer("cd"))

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


def _slow(n: int) -> Reply:
    return stream([f"w{i} " for i in range(n)], chunk_delay=0.05)


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


def test_a_trickling_server_is_stopped_at_the_deadline(loopback: LoopbackServer) -> None:
    # Bytes every 0.05 s never trip the read timeout: the transport checks the deadline.
    body = wires.sse_bytes(wires.gemini_chunks(["slow"]), done=False)
    loopback.add(Reply.trickle(body, every=0.05, content_type="text/event-stream"))
    model = doc(loopback.url, timeout=0.4)
    with pytest.raises(msl.APITimeoutError):
        list(stream_with_model(model, "", "x", api_key=CANARY, registry=REGISTRY))
    loopback.add(Reply.trickle(json.dumps(wires.gemini_response()).encode(), every=0.05))
    with pytest.raises(msl.APITimeoutError):
        call(model)

    async def run() -> None:
        loopback.add(Reply.trickle(json.dumps(wires.gemini_response()).encode(), every=0.05))
        await acomplete_with_model(model, "", "x", api_key=CANARY, registry=REGISTRY)

    with pytest.raises(msl.APITimeoutError):
        asyncio.run(run())


def test_async_calls_leave_no_connection_open_when_their_loop_ends(
    loopback: LoopbackServer,
) -> None:
    """The async side runs on aiohttp when it is installed, in a session of the plugin's
    (for the connect timeout) that google-genai does not close: the core's pool must."""
    import gc
    import warnings

    loopback.add(answer("one"))
    loopback.add(stream(["two"]))

    async def run() -> str:
        first = await acomplete_with_model(
            doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY
        )
        async with astream_with_model(
            doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY
        ) as s:
            second = await s.until_done()
        return first.text + second.text

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert asyncio.run(run()) == "onetwo"
        gc.collect()
    unclosed = [str(w.message) for w in caught if "nclosed" in str(w.message)]
    assert not unclosed


@pytest.mark.parametrize("stack", ["aiohttp", "httpx2"])
def test_async_calls_keep_the_deadline_on_either_stack(
    stack: str, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without aiohttp, google-genai's async side is httpx2: the plugin's transports then
    check the deadline, as they do for blocking calls."""
    import importlib.util

    if stack == "httpx2":
        find_spec = importlib.util.find_spec
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, *args: None if name == "aiohttp" else find_spec(name, *args),
        )
    body = json.dumps(wires.gemini_response("slow")).encode()
    loopback.add(Reply.trickle(body, every=0.05, size=2))
    loopback.add(stream(["fine"]))
    model = doc(loopback.url, timeout=0.4)

    async def run() -> str:
        with pytest.raises(msl.APITimeoutError, match="still sending"):
            await acomplete_with_model(model, "", "x", api_key=CANARY, registry=REGISTRY)
        async with astream_with_model(model, "", "x", api_key=CANARY, registry=REGISTRY) as s:
            return (await s.until_done()).text

    assert asyncio.run(run()) == "fine"
