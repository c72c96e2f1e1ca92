"""stream_with_model, acomplete_with_model, astream_with_model: same handling, chunks, cancel."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm import (
    BaseLLMSDK,
    PluginRegistry,
    acomplete_with_model,
    astream_with_model,
    complete_with_model,
    stream_with_model,
)
from metasync_llm.registry import signature_problems

Doc = dict[str, Any]


def echo(**options: Any) -> Doc:
    return {
        "name": "echo",
        "sdk": "test",
        "deployment": "echo",
        "test": options,
        "cost": {"tokens": 1000, "currency": "USD", "input": 1, "output": 2},
    }


def without_timing(result: msl.CompletionResult) -> dict[str, Any]:
    data = result.to_dict()
    for key in ("elapsed", "time_to_first_chunk"):
        data.pop(key)
    return data


def test_stream_yields_chunks_then_the_same_result_as_complete() -> None:
    prompt = "The quick brown fox jumps over the lazy dog."
    with stream_with_model(echo(), "", prompt) as stream:
        with pytest.raises(RuntimeError, match="not ended yet"):
            stream.result  # noqa: B018
        chunks = list(stream)
    assert len(chunks) == 9 and "".join(chunks) == prompt
    result = stream.result
    assert without_timing(result) == without_timing(complete_with_model(echo(), "", prompt))
    assert result.time_to_first_chunk is not None
    assert 0 <= result.time_to_first_chunk <= result.elapsed


def test_stream_cut_mid_way_raises_with_the_partial_text() -> None:
    stream = stream_with_model(echo(cutAfter=3), "", "one two three four five")
    received = []
    with pytest.raises(msl.APIConnectionError) as info:
        for chunk in stream:
            received.append(chunk)
    assert "".join(received) == "one two three "
    assert info.value.partial_text == "one two three " == stream.text
    assert (info.value.sdk, info.value.model) == ("test", "echo")


def test_stream_configuration_errors_come_before_any_chunk() -> None:
    with pytest.raises(msl.ConfigurationError):
        stream_with_model({"name": "x", "sdk": "test"}, "", "hi")


def test_stream_with_truncated_json_and_repair_raises_at_the_end() -> None:
    stream = stream_with_model(
        echo(reply='{"a": [1, 2, 3]}'), "", "q", max_tokens=7, repair_json=True
    )
    with pytest.raises(msl.TruncatedResponseError) as info:
        list(stream)
    assert info.value.result is not None and info.value.result.raw_text == '{"a": [1'


def test_stream_repairs_json_at_the_end() -> None:
    with stream_with_model(echo(reply='{"a": [1, 2'), "", "q", repair_json=True) as stream:
        assert "".join(stream) == '{"a": [1, 2'
    assert json.loads(stream.result.text) == {"a": [1, 2]}
    assert stream.result.raw_text == '{"a": [1, 2'


def test_acomplete_matches_complete() -> None:
    async_result = asyncio.run(acomplete_with_model(echo(), "sys", "hello there", 0.5, 50))
    assert without_timing(async_result) == without_timing(
        complete_with_model(echo(), "sys", "hello there", 0.5, 50)
    )


def test_astream_yields_chunks_and_result() -> None:
    async def run() -> tuple[list[str], msl.CompletionResult]:
        async with astream_with_model(echo(), "", "a b c d") as stream:
            chunks = [chunk async for chunk in stream]
        return chunks, stream.result

    chunks, result = asyncio.run(run())
    assert chunks == ["a ", "b ", "c ", "d"]
    assert result.text == "a b c d" and result.usage == (4, 4, 8)
    assert result.time_to_first_chunk is not None


def test_astream_cut_mid_way() -> None:
    async def run() -> msl.APIConnectionError:
        stream = await astream_with_model(echo(cutAfter=2), "", "a b c d")
        with pytest.raises(msl.APIConnectionError) as info:
            async for _ in stream:
                pass
        return info.value

    assert asyncio.run(run()).partial_text == "a b "


def test_cancelling_a_task_stops_the_stream_promptly() -> None:
    async def run() -> tuple[list[str], float]:
        received: list[str] = []
        stream = await astream_with_model(echo(chunkDelay=0.5), "", "a b c d e f g h")

        async def consume() -> None:
            async for chunk in stream:
                received.append(chunk)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.1)
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        waited = time.perf_counter() - started
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()  # closed: nothing more arrives
        return received, waited

    received, waited = asyncio.run(run())
    assert received == ["a "]
    assert waited < 0.2


def test_async_key_resolvers_sync_and_async(plugin_registry: PluginRegistry) -> None:
    doc = {"name": "g", "sdk": "Good", "deployment": "d"}
    threads: list[str] = []

    def sync_resolver(model: Mapping[str, Any]) -> str:
        threads.append(threading.current_thread().name)
        return "sk-sync-key"

    async def async_resolver(model: Mapping[str, Any]) -> str:
        await asyncio.sleep(0)
        return "sk-async-key"

    async def run() -> tuple[str, str]:
        a = await acomplete_with_model(
            doc, "", "x", key_resolver=sync_resolver, registry=plugin_registry
        )
        b = await acomplete_with_model(
            doc, "", "x", key_resolver=async_resolver, registry=plugin_registry
        )
        return a.text, b.text

    sync_text, async_text = asyncio.run(run())
    assert threads and threads[0] != threading.main_thread().name, "resolver ran on the loop"
    assert sync_text != async_text


def test_defaults_give_a_complete_only_plugin_every_form(plugin_registry: PluginRegistry) -> None:
    """The Good plugin implements only the seed's `complete`; BaseLLMSDK does the rest."""
    doc = {"name": "g", "sdk": "Good", "deployment": "d"}
    kwargs: dict[str, Any] = {"api_key": "sk-test-1234", "registry": plugin_registry}
    blocking = complete_with_model(doc, "", "hi", **kwargs)
    with stream_with_model(doc, "", "hi", **kwargs) as stream:
        assert list(stream) == [blocking.text]
    assert stream.result.usage == blocking.usage == (3, 4, 7)

    async def run() -> tuple[msl.CompletionResult, list[str], msl.CompletionResult]:
        awaited = await acomplete_with_model(doc, "", "hi", **kwargs)
        astream = await astream_with_model(doc, "", "hi", **kwargs)
        chunks = [c async for c in astream]
        return awaited, chunks, astream.result

    awaited, chunks, streamed = asyncio.run(run())
    assert awaited.text == blocking.text and chunks == [blocking.text]
    assert streamed.usage == (3, 4, 7) and streamed.request_id == "req-good"


def test_many_concurrent_acompletes_each_get_their_own_answer() -> None:
    async def one(i: int) -> tuple[int, str]:
        result = await acomplete_with_model(echo(delay=0.01 * (i % 5)), "", f"caller {i}")
        return i, result.text

    async def run() -> list[tuple[int, str]]:
        return await asyncio.gather(*(one(i) for i in range(300)))

    for i, text in asyncio.run(run()):
        assert text == f"caller {i}"


def test_malformed_stream_item_is_a_plugin_error(plugin_registry: PluginRegistry) -> None:
    doc = {"name": "m", "sdk": "Malformed", "deployment": "d"}
    with pytest.raises(msl.PluginError, match=r"msl-malformed 1\.0"):
        list(stream_with_model(doc, "", "hi", api_key="k" * 8, registry=plugin_registry))


def test_hook_kinds_are_checked() -> None:
    class Wrong(BaseLLMSDK):
        def get_name(self) -> str:
            return "Wrong"

        def validate_config(self, config: Mapping[str, Any]) -> None:
            pass

        def complete(
            self,
            config,
            system_prompt,
            user_content,
            temperature,
            max_tokens,  # type: ignore[no-untyped-def]
            api_key=None,
        ):
            return ("x", 1, 1, 2)

        async def stream(self, request):  # type: ignore[no-untyped-def, override]
            return None

        async def astream(self, request):  # type: ignore[no-untyped-def, override]
            return None

    problems = " | ".join(signature_problems(Wrong()))
    assert "stream(" in problems and "must not be async" in problems
    assert "astream(" in problems and "must be an async generator" in problems


def test_astream_is_an_async_context_manager_and_awaitable() -> None:
    async def run() -> tuple[str, str]:
        async with astream_with_model(echo(), "", "a b") as stream:
            first = "".join([chunk async for chunk in stream])
        awaited = await astream_with_model(echo(), "", "c d")
        second = await awaited.until_done()
        return first, second.text

    assert asyncio.run(run()) == ("a b", "c d")


def test_astream_configuration_errors_come_on_entry() -> None:
    async def run() -> None:
        async with astream_with_model({"name": "x", "sdk": "test"}, "", "hi"):
            raise AssertionError("not reached")

    with pytest.raises(msl.ConfigurationError, match="deployment"):
        asyncio.run(run())


def test_iterating_the_astream_context_says_how_to_use_it() -> None:
    async def run() -> None:
        async for _ in astream_with_model(echo(), "", "hi"):  # type: ignore[attr-defined]
            pass

    with pytest.raises(TypeError, match="async with astream_with_model"):
        asyncio.run(run())


def test_concurrent_first_calls_wait_for_one_client() -> None:
    """256 tasks starting at once used to create 256 clients (seconds of TLS set-up)."""
    from metasync_llm.toolkit import AsyncClientCache

    cache: AsyncClientCache[object] = AsyncClientCache()
    made: list[object] = []

    def create() -> object:
        time.sleep(0.05)  # a client library's import and construction
        made.append(object())
        return made[-1]

    async def run() -> list[object]:
        return await asyncio.gather(*(cache.get("key", create) for _ in range(64)))

    clients = asyncio.run(run())
    assert len(made) == 1 and all(client is made[0] for client in clients)


class _ContextOnlyClient:
    """As mistralai's clients: no close() or aclose(), only with / async with."""

    def __init__(self) -> None:
        self.released: list[str] = []

    def __exit__(self, *exc: object) -> None:
        self.released.append("sync")

    async def __aexit__(self, *exc: object) -> None:
        self.released.append("async")


def test_pooled_clients_without_close_are_released_through_their_context_manager() -> None:
    from metasync_llm.toolkit import AsyncClientCache, ClientCache

    pooled: ClientCache[_ContextOnlyClient] = ClientCache()
    client = pooled.get("key", _ContextOnlyClient)
    pooled.close()
    assert client.released == ["sync"]

    per_loop: AsyncClientCache[_ContextOnlyClient] = AsyncClientCache()

    async def run() -> _ContextOnlyClient:
        return await per_loop.get("key", _ContextOnlyClient)

    async_client = asyncio.run(run())  # the loop's shutdown closes its clients
    assert async_client.released == ["async"]
