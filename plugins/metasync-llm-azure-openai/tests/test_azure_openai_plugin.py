"""The AzureOpenAI plugin over real HTTP: the Azure OpenAPI spec server and loopback replies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm import PluginRegistry, Request, complete_with_model
from metasync_llm.testing import LoopbackServer, Reply

REGISTRY = PluginRegistry(allow={"AzureOpenAI"})
CANARY = "azure-canary-key-5d2e8f"


def doc(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "gpt-azure",
        "sdk": "AzureOpenAI",
        "endpoint": endpoint,
        "apiVersion": "2024-10-21",
        "deployment": "gpt-4o-dep",
        "key": "KEY-AZ",
        "maxTemperature": 5,
        "retry": {"attempts": 1},  # retries have their own tests
        **extra,
    }


def call(model: dict[str, Any], **kwargs: Any) -> msl.CompletionResult:
    return complete_with_model(
        model, "System. ", "User.", api_key=CANARY, registry=REGISTRY, **kwargs
    )


def test_completion_against_the_azure_spec_server(peer: Callable[[str], str]) -> None:
    result = call(doc(peer("azure-openai")), temperature=0.2, max_tokens=16)
    assert isinstance(result.text, str) and result.text
    assert all(c is None or (isinstance(c, int) and c >= 0) for c in result.usage)
    reasoning = doc(
        peer("azure-openai"),
        maxCompletionToken=True,
        omitTemperature=True,
        messageFormat="separate",
    )
    assert call(reasoning).text


def test_request_the_spec_server_rejects_is_a_bad_request(peer: Callable[[str], str]) -> None:
    with pytest.raises(msl.BadRequestError) as info:
        call(doc(peer("azure-openai")), temperature=3.0)  # the API allows 0..2
    assert info.value.status == 422 and info.value.sdk == "AzureOpenAI"


def test_azure_request_shape(loopback: LoopbackServer) -> None:
    loopback.add(
        Reply.json(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "gpt-4o",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "ok"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5},
            }
        )
    )
    result = call(doc(loopback.url), max_tokens=9)
    assert result.usage == (4, 1, 5)
    [sent] = loopback.requests
    assert sent.path == "/openai/deployments/gpt-4o-dep/chat/completions?api-version=2024-10-21"
    assert sent.headers["api-key"] == CANARY
    assert sent.json()["messages"] == [{"role": "system", "content": "System. User."}]


def test_content_filter_refusal(loopback: LoopbackServer) -> None:
    body = {
        "error": {
            "message": "The response was filtered due to the prompt triggering"
            " Azure OpenAI's content management policy.",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation"},
        }
    }
    loopback.add(Reply.json(body, status=400, headers={"apim-request-id": "apim-1"}))
    with pytest.raises(msl.ContentFilterError) as info:
        call(doc(loopback.url))
    assert info.value.status == 400 and "content management policy" in str(info.value)


def test_throttling_carries_retry_after(loopback: LoopbackServer) -> None:
    body = {
        "error": {
            "code": "429",
            "message": "Requests to the ChatCompletions_Create"
            " Operation have exceeded call rate limit. Please retry after 7 seconds.",
        }
    }
    loopback.add(Reply.json(body, status=429, headers={"retry-after": "7"}))
    with pytest.raises(msl.RateLimitError) as info:
        call(doc(loopback.url))
    assert info.value.retry_after == 7
    assert len(loopback.requests) == 1


def test_api_version_is_required() -> None:
    model = doc("https://res.openai.azure.com")
    del model["apiVersion"]
    with pytest.raises(msl.ConfigurationError) as info:
        REGISTRY.get_sdk("AzureOpenAI").validate_config(model)
    assert info.value.fields == ("apiVersion",)


def test_clients_differ_by_api_version(loopback: LoopbackServer) -> None:
    sdk = REGISTRY.get_sdk("AzureOpenAI")

    def client(model: dict[str, Any]) -> Any:
        return sdk.client_for(Request(model, "", "", 1, 1, CANARY))

    a = client(doc(loopback.url))
    assert a is client(doc(loopback.url))
    assert a is not client(doc(loopback.url, apiVersion="2025-01-01"))
