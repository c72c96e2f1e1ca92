"""The ChatCompletionsClient plugin over real HTTP: the Azure AI Inference spec server, loopback."""

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

REGISTRY = PluginRegistry(allow={"ChatCompletionsClient"})
CANARY = "aai-canary-key-0c9d8e7f"


def doc(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "phi",
        "sdk": "ChatCompletionsClient",
        "endpoint": endpoint,
        "apiVersion": "2025-04-01",
        "deployment": "Phi-4",
        "key": "KEY-AAI",
        "maxTemperature": 1,
        "retry": {"attempts": 1},  # retries have their own tests
        **extra,
    }


def call(model: dict[str, Any], **kwargs: Any) -> msl.CompletionResult:
    return complete_with_model(model, "Sys. ", "User.", api_key=CANARY, registry=REGISTRY, **kwargs)


def body(
    content: str | None = "Hi there", finish: str = "stop", usage: dict[str, int] | None = None
) -> dict[str, Any]:
    counts = (
        usage
        if usage is not None
        else {"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8}
    )
    return wires.chat_completion(content, finish=finish, usage=counts, id="cmpl-1", model="Phi-4")


def test_completion_against_the_spec_server(peer: Callable[[str], str]) -> None:
    result = call(doc(peer("azure-ai-inference")), temperature=0.5, max_tokens=16)
    assert isinstance(result.text, str) and result.text
    # The spec's placeholder counts are -2**31: impossible, so reported as unknown.
    assert result.usage == (None, None, None)
    with_extras = doc(
        peer("azure-ai-inference"), maxCompletionToken=True, extraBody={"reasoning_effort": "low"}
    )
    assert call(with_extras).text


def test_request_the_spec_server_rejects_is_a_bad_request(peer: Callable[[str], str]) -> None:
    model = doc(peer("azure-ai-inference"), maxTemperature=5)
    with pytest.raises(msl.BadRequestError) as info:
        call(model, temperature=3)  # the API allows 0..1
    assert info.value.status == 422 and info.value.sdk == "ChatCompletionsClient"
    assert CANARY not in str(info.value)


def test_what_is_sent(loopback: LoopbackServer) -> None:
    loopback.add(Reply.json(body()))
    result = call(doc(loopback.url), temperature=0.4, max_tokens=12)
    assert (result.text, result.usage, result.finish_reason) == ("Hi there", (6, 2, 8), "stop")
    assert result.request_id == "cmpl-1"
    [sent] = loopback.requests
    assert sent.path == "/chat/completions?api-version=2025-04-01"
    assert (
        sent.headers.get("api-key") == CANARY
        or sent.headers.get("authorization") == f"Bearer {CANARY}"
    )
    assert "extra-parameters" not in sent.headers
    data = sent.json()
    assert data["messages"] == [{"role": "system", "content": "Sys. User."}]
    assert (data["model"], data["temperature"], data["max_tokens"]) == ("Phi-4", 0.4, 12)


def test_unmodelled_parameters_go_through_model_extras(loopback: LoopbackServer) -> None:
    loopback.add(Reply.json(body()))
    call(
        doc(loopback.url, maxCompletionToken=True, omitTemperature=True, extraBody={"top_k": 5}),
        max_tokens=40,
    )
    [sent] = loopback.requests
    assert sent.headers["extra-parameters"] == "pass-through"
    data = sent.json()
    assert data["max_completion_tokens"] == 40 and data["top_k"] == 5
    assert "max_tokens" not in data and "temperature" not in data


def test_omitted_usage_fields_are_none(loopback: LoopbackServer) -> None:
    loopback.add(Reply.json(body(usage={"prompt_tokens": 3})))
    assert call(doc(loopback.url)).usage == (3, None, None)


@pytest.mark.parametrize(
    ("content", "finish", "error"),
    [
        (None, "stop", msl.EmptyResponseError),
        ("", "length", msl.TruncatedResponseError),
        (None, "content_filter", msl.ContentFilterError),
    ],
)
def test_no_content(
    loopback: LoopbackServer, content: str | None, finish: str, error: type
) -> None:
    loopback.add(Reply.json(body(content=content, finish=finish)))
    with pytest.raises(error, match="ChatCompletionsClient"):
        call(doc(loopback.url))


@pytest.mark.parametrize(
    ("status", "code", "message", "error"),
    [
        (
            401,
            "Unauthorized",
            "Access denied due to invalid subscription key",
            msl.AuthenticationError,
        ),
        (
            404,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist",
            msl.NotFoundError,
        ),
        (429, "RateLimitReached", "Rate limit of 10 per 60s exceeded", msl.RateLimitError),
        (
            400,
            "tokens_limit_reached",
            "Request body too large for model",
            msl.ContextWindowExceededError,
        ),
        (400, "content_filter", "The response was filtered", msl.ContentFilterError),
        (500, "InternalServerError", "Backend failure", msl.ServerError),
    ],
)
def test_service_errors_map_to_the_core_hierarchy(
    loopback: LoopbackServer, status: int, code: str, message: str, error: type
) -> None:
    loopback.add(
        Reply.json(
            {"error": {"code": code, "message": message}},
            status=status,
            headers={"retry-after": "4"},
        )
    )
    with pytest.raises(error) as info:
        call(doc(loopback.url))
    err = info.value
    assert type(err) is error and err.status == status and message in str(err)
    assert CANARY not in str(err) and CANARY not in repr(err.__cause__)
    if status == 429:
        assert err.retry_after == 4
    assert len(loopback.requests) == 1, "azure-core's retries must be off"


def test_timeout_and_connection_failure(loopback: LoopbackServer) -> None:
    loopback.add(Reply(delay=2.0))
    with pytest.raises(msl.APITimeoutError):
        call(doc(loopback.url, timeout=0.3))
    loopback.add(Reply(drop=True))
    with pytest.raises(msl.APIConnectionError):
        call(doc(loopback.url))


def test_client_is_pooled(loopback: LoopbackServer) -> None:
    loopback.add(Reply.json(body()), Reply.json(body()))
    call(doc(loopback.url))
    call(doc(loopback.url))
    assert len({r.client for r in loopback.requests}) == 1


def test_validate_config_names_every_missing_field() -> None:
    with pytest.raises(msl.ConfigurationError) as info:
        REGISTRY.get_sdk("ChatCompletionsClient").validate_config({"name": "x"})
    assert set(info.value.fields) == {"endpoint", "apiVersion", "deployment"}


def updates(words: list[str], *, usage: bool = True, **kwargs: Any) -> Reply:
    events: list[dict[str, Any]] = [
        {
            "id": "upd-1",
            "created": 0,
            "model": "Phi-4",
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": w}, "finish_reason": None}
            ],
        }
        for w in words
    ]
    last: dict[str, Any] = {
        "id": "upd-1",
        "created": 0,
        "model": "Phi-4",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    if usage:
        last["usage"] = {
            "prompt_tokens": 7,
            "completion_tokens": len(words),
            "total_tokens": 7 + len(words),
        }
    return Reply.sse([*events, last], **kwargs)


def test_stream_and_async_against_the_spec_server(peer: Callable[[str], str]) -> None:
    model = doc(peer("azure-ai-inference"))
    with stream_with_model(model, "S", "U", api_key=CANARY, registry=REGISTRY) as s:
        assert "".join(s) == s.text
    assert s.result.text

    async def run() -> tuple[str, str]:
        done = await acomplete_with_model(model, "S", "U", api_key=CANARY, registry=REGISTRY)
        streamed = await astream_with_model(model, "S", "U", api_key=CANARY, registry=REGISTRY)
        return done.text, (await streamed.until_done()).text

    assert all(asyncio.run(run()))


def test_stream_with_usage_in_the_final_update(loopback: LoopbackServer) -> None:
    loopback.add(updates(["Hel", "lo"]))
    with stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY) as s:
        assert list(s) == ["Hel", "lo"]
    assert (s.result.text, s.result.usage, s.result.finish_reason) == ("Hello", (7, 2, 9), "stop")
    assert loopback.requests[0].json()["stream"] is True


def test_async_forms(loopback: LoopbackServer) -> None:
    loopback.add(updates(["a", "b"]), Reply.json(body(content="done")))

    async def run() -> tuple[list[str], msl.CompletionResult, msl.CompletionResult]:
        s = await astream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY)
        chunks = [c async for c in s]
        done = await acomplete_with_model(
            doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY
        )
        return chunks, s.result, done

    chunks, streamed, done = asyncio.run(run())
    assert chunks == ["a", "b"] and streamed.usage == (7, 2, 9)
    assert done.text == "done" and done.usage == (6, 2, 8)


def test_stream_cut_mid_way(loopback: LoopbackServer) -> None:
    loopback.add(updates(["one ", "two ", "three "], cut_after=2))
    s = stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY)
    with pytest.raises(msl.APIConnectionError) as info:
        for _ in s:
            pass
    assert info.value.partial_text == "one two "


def test_closing_and_cancelling_close_the_connection(loopback: LoopbackServer) -> None:
    loopback.add(updates([f"w{i} " for i in range(40)], chunk_delay=0.05))
    s = stream_with_model(doc(loopback.url), "", "x", api_key=CANARY, registry=REGISTRY)
    assert next(s) == "w0 "
    s.close()
    assert loopback.wait_for_disconnect(2.0)


def test_cancelled_async_stream_closes_the_connection(loopback: LoopbackServer) -> None:
    loopback.add(updates([f"w{i} " for i in range(40)], chunk_delay=0.05))

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
