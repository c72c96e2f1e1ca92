"""What the hardening tests share: documents for each SDK, provider replies, key checks."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from metasync_llm import (
    PluginRegistry,
    acomplete_with_model,
    astream_with_model,
    complete_with_model,
    stream_with_model,
)
from metasync_llm.testing import Reply, wires

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


def forms(model: dict[str, Any], reg: PluginRegistry) -> dict[str, Callable[[], Any]]:
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
