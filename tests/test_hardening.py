"""Hardening (issue 12): misbehaving servers and hostile documents, through the public API.

Each test names the item of the review it covers. Servers are real loopback servers; the
key is a canary that must never appear in an error, its chain, a traceback or a log.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm import (
    PluginRegistry,
    acomplete_with_model,
    astream_with_model,
    complete_with_model,
    prepare_model,
    stream_with_model,
)
from metasync_llm._keys import redact
from metasync_llm.cli import main as cli
from metasync_llm.connector import validate_model
from metasync_llm.testing import LoopbackServer, Reply, wires

KEY = "sk-canary-HARDEN-9f8e7d6c5b"
CHAT_SDKS = ["OpenAI", "AzureOpenAI", "ChatCompletionsClient"]
EXTRA = {
    "OpenAI": {},
    "AzureOpenAI": {"apiVersion": "2024-10-21"},
    "Anthropic": {},
    "ChatCompletionsClient": {"apiVersion": "2025-04-01"},
    "Gemini": {},
}
MODULES = {
    "OpenAI": "metasync_llm_openai",
    "AzureOpenAI": "metasync_llm_azure_openai",
    "Anthropic": "metasync_llm_anthropic",
    "ChatCompletionsClient": "metasync_llm_azure_inference",
    "Gemini": "metasync_llm_gemini",
}
#: SDKs whose blocking calls are plain JSON requests, never answered with a stream.
BLOCKING_JSON = {"Gemini"}
_REGISTRIES: dict[str, PluginRegistry] = {}


def registry(sdk: str) -> PluginRegistry:
    if importlib.util.find_spec(MODULES[sdk]) is None:
        if os.environ.get("METASYNC_REQUIRE_PEERS") == "1":
            pytest.fail(f"{MODULES[sdk]} is not installed")
        pytest.skip(f"{MODULES[sdk]} is not installed")
    return _REGISTRIES.setdefault(sdk, PluginRegistry(allow={sdk}))


def doc(sdk: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"{sdk}-hard",
        "sdk": sdk,
        "endpoint": url,
        "deployment": "claude-opus-5" if sdk == "Anthropic" else "m",
        "key": "KEY-HARD",
        "retry": {"attempts": 1},
        "timeout": 5,
        **EXTRA[sdk],
        **extra,
    }


def chat_stream(words: list[str], *, finish: str | None = "stop", done: bool = True) -> Reply:
    return Reply.sse(wires.chat_chunks(words, finish=finish, usage=None), done=done)


def anthropic_stream(words: list[str], *, stop: str | None = "end_turn") -> Reply:
    return Reply.sse(wires.anthropic_events(words, stop=stop), done=False, named=True)


def gemini_stream(words: list[str], *, finish: str | None = "STOP") -> Reply:
    return Reply.sse(wires.gemini_chunks(words, finish=finish, usage=None), done=False)


def cut_short(sdk: str, words: list[str]) -> Reply:
    """A stream whose body ends cleanly but without the provider's end marker."""
    if sdk == "Anthropic":
        return anthropic_stream(words, stop=None)
    if sdk == "Gemini":
        return gemini_stream(words, finish=None)
    return chat_stream(words, finish=None, done=sdk != "ChatCompletionsClient")


def complete_stream(sdk: str, words: list[str]) -> Reply:
    if sdk == "Gemini":
        return gemini_stream(words)
    return anthropic_stream(words) if sdk == "Anthropic" else chat_stream(words)


def answer(sdk: str, text: str) -> Reply:
    """A whole answer to a blocking call."""
    if sdk == "Gemini":
        return Reply.json(wires.gemini_response(text))
    if sdk == "Anthropic":
        return complete_stream(sdk, [text])
    return Reply.json(wires.chat_completion(text))


def error_body(sdk: str, message: str, kind: str) -> dict[str, Any]:
    """The provider's error body; ``kind`` is Anthropic's error type."""
    if sdk == "Anthropic":
        return wires.anthropic_error(message, kind=kind)
    if sdk == "Gemini":
        return wires.gemini_error(400, message, "INVALID_ARGUMENT")
    return wires.chat_error(message, code=kind)


def links(error: BaseException) -> Iterator[BaseException]:
    """Every exception reachable from ``error`` by ``__cause__`` and ``__context__``."""
    todo, seen = [error], set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)


def assert_no_key(error: BaseException, caplog: pytest.LogCaptureFixture | None = None) -> None:
    printed = "".join(traceback.format_exception(error))
    assert KEY not in printed, printed
    for link in links(error):
        assert KEY not in str(link) + repr(link)
        assert KEY not in repr(vars(link)), (type(link), vars(link))
        assert KEY not in repr(getattr(link, "__notes__", ""))
        assert KEY not in repr(getattr(link, "args", ""))
    if caplog is not None:
        for record in caplog.records:
            assert KEY not in record.getMessage(), record.name


# -- 1. a stream that ends cleanly but early is an error --------------------------------


@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_1_a_stream_without_its_end_marker_is_an_error_with_the_partial_text(
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
def test_1_a_cut_short_answer_is_retried_when_nothing_was_handed_out(
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


# -- 2. ChatCompletionsClient streams behave as the others --------------------------------


@pytest.mark.parametrize("sdk", CHAT_SDKS)
def test_2_an_error_event_inside_a_stream_is_raised_with_the_partial_text(
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
def test_2_keep_alive_comments_are_valid_sse(sdk: str, loopback: LoopbackServer) -> None:
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
def test_2_a_malformed_line_keeps_the_partial_text_sync_and_async(
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


# -- 3. Anthropic: an overload inside the stream is a retried ServerError ----------------


def test_3_an_overload_as_the_first_event_is_a_retried_server_error(
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


# -- 4. impossible numbers -------------------------------------------------------------------


@pytest.mark.parametrize("sdk", sorted(MODULES))
@pytest.mark.parametrize(
    "counts",
    [
        {"prompt_tokens": 10**400, "completion_tokens": 2, "total_tokens": 10**400},
        {"prompt_tokens": "12", "completion_tokens": True, "total_tokens": 10**30},
        {"prompt_tokens": -2147483648, "completion_tokens": 1.5, "total_tokens": None},
    ],
)
def test_4_impossible_counts_are_unknown_and_costs_stay_numbers(
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


def test_4_the_cli_prints_no_traceback_for_impossible_numbers(
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


# -- 5. deep documents ------------------------------------------------------------------


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"x": value}
    return value


@pytest.mark.parametrize("field", ["_metadata", "cost", "test"])
def test_5_a_deeply_nested_document_is_a_configuration_error(field: str) -> None:
    model = {"name": "deep", "sdk": "test", "deployment": "echo", field: _deep(1000)}
    for check in (
        lambda: complete_with_model(model, "", "hi"),
        lambda: validate_model(model),
        lambda: prepare_model(model),
    ):
        with pytest.raises(msl.ConfigurationError) as info:
            check()
        assert info.value.fields[0] == field and "nested more than" in str(info.value)


def test_5_the_cli_reports_deep_documents_in_one_line(tmp_path: Path) -> None:
    deep_doc = tmp_path / "deep.json"
    deep_doc.write_text(
        json.dumps({"name": "d", "sdk": "test", "deployment": "echo", "_metadata": _deep(500)})
    )
    deeper = tmp_path / "deeper.json"
    deeper.write_text('{"name": "d", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    for argv, expected in (
        (["validate", str(deep_doc)], 1),
        (["complete", "--model", str(deep_doc), "hi"], 2),
        (["complete", "--model", str(deeper), "hi"], 2),
    ):
        err = io.StringIO()
        assert cli(argv, stdout=io.StringIO(), stderr=err) == expected
        assert "Traceback" not in err.getvalue()


# -- 6. keys in every form --------------------------------------------------------------


def test_6_a_key_read_with_its_newline_is_stripped(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reg = registry("OpenAI")
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("KEY_HARD", f"  {KEY}\n")
    loopback.add(Reply.json(wires.chat_completion("ok")))
    result = complete_with_model(doc("OpenAI", loopback.url), "", "hi", registry=reg)
    assert result.text == "ok"
    assert loopback.requests[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("bad", [f"{KEY[:10]}\n{KEY[10:]}", f"{KEY}\x00", "sk-1234"])
def test_6_8_a_key_that_cannot_be_sent_or_is_too_short_is_refused_unseen(
    bad: str, monkeypatch: pytest.MonkeyPatch, loopback: LoopbackServer
) -> None:
    reg = registry("OpenAI")
    ways: list[dict[str, Any]] = [{"api_key": bad}, {"key_resolver": lambda _m: bad}]
    if "\x00" not in bad:  # the environment cannot hold a NUL
        monkeypatch.setenv("KEY_HARD", bad)
        ways.append({})
    for how in ways:
        with pytest.raises(msl.MissingAPIKeyError) as info:
            complete_with_model(doc("OpenAI", loopback.url), "", "hi", registry=reg, **how)
        assert bad.strip() not in str(info.value) and KEY[:10] not in str(info.value)
    assert loopback.requests == [], "nothing was sent"


# -- 7. the whole chain is scrubbed -----------------------------------------------------


@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_7_an_echoed_key_is_nowhere_in_the_chain(
    sdk: str, loopback: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    reg = registry(sdk)
    caplog.set_level(logging.DEBUG)
    message = f"Incorrect API key provided: {KEY}"
    body = error_body(sdk, message, "authentication_error")
    loopback.add(Reply.json(body, status=401))
    with pytest.raises(msl.AuthenticationError) as info:
        complete_with_model(doc(sdk, loopback.url), "", "hi", api_key=KEY, registry=reg)
    assert "***" in str(info.value)
    cause = info.value.__cause__
    assert cause is not None and "***" in repr(vars(cause))
    assert info.value.__context__ is None or info.value.__context__ is cause
    assert_no_key(info.value, caplog)


def test_7_an_error_event_echoing_the_key_is_scrubbed(
    loopback: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    reg = registry("Anthropic")
    caplog.set_level(logging.DEBUG)
    events = wires.anthropic_events(["partial "], stop=None)
    events.append(wires.anthropic_error(f"bad key {KEY}", kind="invalid_request_error"))
    loopback.add(Reply.sse(events, done=False, named=True))
    with pytest.raises(msl.CompletionError) as info:
        list(stream_with_model(doc("Anthropic", loopback.url), "", "hi", api_key=KEY, registry=reg))
    assert info.value.partial_text == "partial "
    assert_no_key(info.value, caplog)


@pytest.mark.parametrize(
    "kind", ["bytes", "dict", "list", "str", "notes", "group", "cause", "context"]
)
def test_7_a_plugin_raising_the_key_in_any_form_leaks_nothing(
    kind: str, plugin_registry: PluginRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    model = {
        "name": "r",
        "sdk": "Raiser",
        "deployment": "d",
        "raise": kind,
        "retry": {"attempts": 2, "initialDelay": 0.01},
    }
    with pytest.raises(msl.MetasyncLLMError) as info:
        complete_with_model(model, "", "hi", api_key=KEY, registry=plugin_registry)
    assert_no_key(info.value, caplog)
    logging.getLogger("test").exception("logged", exc_info=info.value)
    assert_no_key(info.value, caplog)


# -- 8. short keys, whole-token redaction ------------------------------------------------


def test_8_redaction_replaces_whole_tokens_only() -> None:
    assert redact("the password is: passwords-and-more", ["passwords"]) == (
        "the password is: ***-and-more"
    )
    assert redact("sk-12345678 and xsk-12345678x", ["sk-12345678"]) == "*** and xsk-12345678x"
    assert redact("a HTTP error for model m", ["HTTP1234"]) == "a HTTP error for model m"


# -- 9. an exception that cannot print --------------------------------------------------


def test_9_a_plugin_exception_whose_str_raises_is_a_plugin_error(
    plugin_registry: PluginRegistry,
) -> None:
    model = {"name": "r", "sdk": "Raiser", "deployment": "d", "raise": "unprintable"}
    with pytest.raises(msl.PluginError) as info:
        complete_with_model(model, "", "hi", api_key=KEY, registry=plugin_registry)
    assert "Raiser (msl-raiser 1.0)" in str(info.value) and "str()" in str(info.value)
    assert not isinstance(info.value, ZeroDivisionError)


# -- 10. endpoints parsed as clients parse them -------------------------------------------


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://10.255.255.1\\@127.0.0.1:4010",
        "http://user:pass@127.0.0.1:4010",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:http",
        "http://127.0.0.1 :4010",
        "http://127.0.0.1:4010/v1\r\nX-Injected: 1",
        "https://api.example.com/v1#frag",
        "https://" + "a" * 5_000_000 + ".com",
    ],
)
@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_10_an_endpoint_clients_could_read_differently_is_refused(sdk: str, endpoint: str) -> None:
    reg = registry(sdk)
    model = doc(sdk, endpoint)
    for check in (
        lambda: validate_model(model, registry=reg),
        lambda: complete_with_model(model, "", "hi", api_key=KEY, registry=reg),
    ):
        with pytest.raises(msl.ConfigurationError) as info:
            check()
        assert info.value.fields == ("endpoint",) and len(str(info.value)) < 1000


@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_10_the_normalized_endpoint_reaches_the_client(sdk: str, loopback: LoopbackServer) -> None:
    reg = registry(sdk)
    loopback.add(answer(sdk, "ok"))
    model = doc(sdk, loopback.url.replace("http://127.0.0.1", "HTTP://LocalHost"))
    assert complete_with_model(model, "", "hi", api_key=KEY, registry=reg).text == "ok"


# -- 11. what validate accepts, calls accept ---------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timeout": 1e12}, "timeout"),
        ({"connectTimeout": 1e12}, "connectTimeout"),
        ({"endpoint": "http://127.0.0.1:99999"}, "endpoint"),
        ({"extraBody": {"top_p": float("nan")}}, "extraBody"),
        ({"extraBody": {"stop": {"a", "b"}}}, "extraBody"),
        ({"extraBody": _deep(100)}, "extraBody"),
        ({"maxTemperature": -1}, "maxTemperature"),
        ({"minTemperature": -0.5}, "minTemperature"),
        ({"key": None}, "key"),
    ],
)
@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_11_validate_refuses_what_a_call_would_fail_on(
    sdk: str, change: dict[str, Any], field: str
) -> None:
    reg = registry(sdk)
    model = {**doc(sdk, "http://127.0.0.1:4010"), **change}
    with pytest.raises(msl.ConfigurationError) as info:
        validate_model(model, registry=reg)
    assert field in info.value.fields


def test_11_the_validate_command_refuses_them_too(tmp_path: Path) -> None:
    registry("OpenAI")
    models = [
        {**doc("OpenAI", "http://127.0.0.1:4010"), "name": "ok"},
        {**doc("OpenAI", "http://127.0.0.1:4010"), "name": "nokey", "key": None},
        {**doc("OpenAI", "http://127.0.0.1:4010"), "name": "slow", "timeout": 1e12},
    ]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(models))
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("METASYNC_LLM_SDKS", "OpenAI")
        msl.SDKRegistry.refresh()
        try:
            code = cli(["validate", "--json", str(path)], stdout=out, stderr=io.StringIO())
        finally:
            patch.undo()
            msl.SDKRegistry.refresh()
    assert code == 1
    assert [row["valid"] for row in json.loads(out.getvalue())] == [True, False, False]


# -- 12. bounded time per attempt ----------------------------------------------------------


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
def test_12_a_trickling_server_cannot_hold_a_call_past_its_timeout(
    sdk: str, form: str, loopback: LoopbackServer
) -> None:
    reg = registry(sdk)
    streamed = form.endswith("stream")
    keep_alive = streamed and sdk != "Gemini"
    loopback.add(_keep_alive(200, 0.05) if keep_alive else _trickled(sdk, stream=streamed))
    model = doc(sdk, loopback.url, timeout=0.6)
    call = _forms(model, reg)[form]
    started = time.monotonic()
    with pytest.raises(msl.APITimeoutError) as info:
        call()
    waited = time.monotonic() - started
    assert waited < 3, f"held for {waited:.1f}s with timeout=0.6"
    assert "still sending" in str(info.value)


@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_12_a_stream_that_keeps_producing_text_may_last_longer(
    sdk: str, loopback: LoopbackServer
) -> None:
    reg = registry(sdk)
    words = [f"w{i} " for i in range(8)]
    reply = complete_stream(sdk, words)
    loopback.add(Reply(reply.status, reply.body, reply.headers, reply.chunks, 0.15))
    model = doc(sdk, loopback.url, timeout=0.6)
    started = time.monotonic()
    with stream_with_model(model, "", "hi", api_key=KEY, registry=reg) as stream:
        assert "".join(stream) == "".join(words)
    assert time.monotonic() - started > 0.6, "the stream outlived one timeout, chunk by chunk"


def test_12_creating_a_client_does_not_count_against_the_timeout() -> None:
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


def _forms(model: dict[str, Any], reg: PluginRegistry) -> dict[str, Callable[[], Any]]:
    kwargs: dict[str, Any] = {"api_key": KEY, "registry": reg}

    async def astream() -> Any:
        async with astream_with_model(model, "", "hi", **kwargs) as stream:
            return await stream.until_done()

    return {
        "complete": lambda: complete_with_model(model, "", "hi", **kwargs),
        "stream": lambda: stream_with_model(model, "", "hi", **kwargs).until_done(),
        "acomplete": lambda: asyncio.run(acomplete_with_model(model, "", "hi", **kwargs)),
        "astream": lambda: asyncio.run(astream()),
    }


# -- 13. large error bodies ---------------------------------------------------------------


@pytest.mark.parametrize("sdk", sorted(MODULES))
def test_13_a_huge_error_body_gives_a_readable_message_without_stalling_the_loop(
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


# -- 14. the seed clamps the temperature -------------------------------------------------


def test_14_a_temperature_below_the_minimum_is_clamped_up() -> None:
    model = {
        "name": "t",
        "sdk": "test",
        "deployment": "t",
        "minTemperature": 0.2,
        "maxTemperature": 0.8,
    }
    assert complete_with_model(model, "", "hi", temperature=-3).temperature == 0.2
    assert complete_with_model(model, "", "hi", temperature=5).temperature == 0.8
    for bad in (float("nan"), "hot", float("inf")):
        with pytest.raises(msl.ConfigurationError):
            complete_with_model(model, "", "hi", temperature=bad)  # type: ignore[arg-type]
    with pytest.raises(msl.ConfigurationError, match="temperature"):
        complete_with_model({**model, "minTemperature": None}, "", "hi", temperature=-3)


# -- where SDKs keep the response's headers ------------------------------------------------


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


@pytest.mark.parametrize("form", ["complete", "acomplete"])
def test_12_a_byte_every_half_second_is_stopped_at_the_deadline_on_azure_ai_inference(
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
        _forms(model, reg)[form]()
    assert time.monotonic() - started < 3


def test_a_retry_info_that_cannot_be_read_leaves_retry_after_unknown() -> None:
    from metasync_llm._wire._mapping import provider_error

    for delay in ({"seconds": "soon"}, {"seconds": True}, "37 minutes", {"seconds": "3"}):
        body = {"error": {"details": [{"@type": "google.rpc.RetryInfo", "retryDelay": delay}]}}
        error = provider_error(429, body, None, sdk="Gemini", model="m")
        assert isinstance(error, msl.RateLimitError)
        assert error.retry_after == (3.0 if delay == {"seconds": "3"} else None)
