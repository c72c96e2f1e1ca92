"""The OpenAI plugin over real HTTP: the OpenAPI spec server and loopback fault replies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm import PluginRegistry, Request, complete_with_model
from metasync_llm.testing import LoopbackServer, Reply, wires

REGISTRY = PluginRegistry(allow={"OpenAI"})
CANARY = "sk-canary-7f3a9c1e5b"


def doc(endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "gpt-test",
        "sdk": "OpenAI",
        "endpoint": endpoint,
        "deployment": "gpt-4o",
        "key": "KEY-OPENAI-TEST",
        "maxTemperature": 5,
        "retry": {"attempts": 1},  # retries have their own tests
        **extra,
    }


def call(model: dict[str, Any], **kwargs: Any) -> msl.CompletionResult:
    args: dict[str, Any] = {"api_key": CANARY, "registry": REGISTRY, **kwargs}
    return complete_with_model(
        model, args.pop("system", "Be brief. "), args.pop("user", "Hi"), **args
    )


def chat_body(
    content: str | None = "Hello!", finish: str = "stop", usage: dict[str, int] | None = None
) -> dict[str, Any]:
    return wires.chat_completion(content, finish=finish, usage=usage, model="gpt-4o")


USAGE = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}


def test_completion_against_the_openai_spec_server(peer: Callable[[str], str]) -> None:
    result = call(doc(peer("openai")), temperature=0.3, max_tokens=20)
    assert isinstance(result.text, str) and result.text
    for count in result.usage:
        assert count is None or (isinstance(count, int) and count >= 0)
    assert result.sdk == "OpenAI" and result.model == "gpt-test"


def test_every_document_variant_passes_the_spec_server(peer: Callable[[str], str]) -> None:
    base = peer("openai")
    for extra in (
        {"maxCompletionToken": True, "omitTemperature": True},
        {"messageFormat": "combined"},
        {"extraBody": {"top_p": 0.5}},
    ):
        assert call(doc(base, **extra), system="S", user="U").text


def test_request_the_spec_server_rejects_is_a_bad_request(peer: Callable[[str], str]) -> None:
    with pytest.raises(msl.BadRequestError) as info:
        call(doc(peer("openai")), temperature=3.5)  # the API allows 0..2
    assert info.value.status == 422
    assert info.value.sdk == "OpenAI" and CANARY not in str(info.value)


def test_what_is_sent(loopback: LoopbackServer) -> None:
    loopback.add(Reply.json(chat_body(usage=USAGE), headers={"x-request-id": "req-42"}))
    result = call(doc(loopback.url + "/v1"), temperature=0.7, max_tokens=33)
    assert result.text == "Hello!" and result.usage == (11, 3, 14)
    assert result.request_id == "req-42" and result.finish_reason == "stop"
    [sent] = loopback.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {CANARY}"
    body = sent.json()
    # Separate turns: OpenAI was not one of the seed's SDKs (combined is still a choice).
    assert body["messages"] == [
        {"role": "system", "content": "Be brief. "},
        {"role": "user", "content": "Hi"},
    ]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("gpt-4o", 0.7, 33)
    assert "max_completion_tokens" not in body


def test_document_quirks_shape_the_request(loopback: LoopbackServer) -> None:
    loopback.add(Reply.json(chat_body(usage=USAGE)))
    model = doc(
        loopback.url,
        maxCompletionToken=True,
        omitTemperature=True,
        messageFormat="separate",
        extraBody={"reasoning_effort": "low"},
    )
    call(model, max_tokens=50)
    body = loopback.requests[0].json()
    assert "temperature" not in body and "max_tokens" not in body
    assert body["max_completion_tokens"] == 50 and body["reasoning_effort"] == "low"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief. "},
        {"role": "user", "content": "Hi"},
    ]


def test_client_is_reused_and_connections_pooled(loopback: LoopbackServer) -> None:
    loopback.add(*[Reply.json(chat_body(usage=USAGE))] * 3)
    model = doc(loopback.url)
    for _ in range(3):
        call(model)
    assert len({r.client for r in loopback.requests}) == 1
    sdk = REGISTRY.get_sdk("OpenAI")

    def client(model: dict[str, Any], key: str) -> Any:
        return sdk.client_for(Request(model, "", "", 1, 1, key))

    assert client(model, CANARY) is client(dict(model), CANARY)
    assert client(model, CANARY) is not client(model, "sk-other")


def test_missing_usage_is_none(loopback: LoopbackServer) -> None:
    loopback.add(Reply.json(chat_body(usage=None)))
    result = call(doc(loopback.url))
    assert result.usage == (None, None, None)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({**chat_body(), "choices": []}, msl.EmptyResponseError),
        (chat_body(content=None), msl.EmptyResponseError),
        (chat_body(content="", finish="length"), msl.TruncatedResponseError),
        (chat_body(content=None, finish="content_filter"), msl.ContentFilterError),
    ],
)
def test_empty_answers(loopback: LoopbackServer, body: dict[str, Any], error: type) -> None:
    loopback.add(Reply.json(body))
    with pytest.raises(error) as info:
        call(doc(loopback.url))
    assert "OpenAI" in str(info.value)


ERROR_CASES = [
    (
        401,
        {
            "error": {
                "message": f"Incorrect API key provided: {CANARY}",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
        {},
        msl.AuthenticationError,
    ),
    (
        403,
        {"error": {"message": "Project does not have access", "code": None}},
        {},
        msl.PermissionDeniedError,
    ),
    (
        404,
        {"error": {"message": "The model `gpt-9` does not exist", "code": "model_not_found"}},
        {},
        msl.NotFoundError,
    ),
    (
        429,
        {
            "error": {
                "message": "Rate limit reached",
                "type": "requests",
                "code": "rate_limit_exceeded",
            }
        },
        {"retry-after": "3"},
        msl.RateLimitError,
    ),
    (
        400,
        {
            "error": {
                "message": "This model's maximum context length is 128000 tokens.",
                "code": "context_length_exceeded",
            }
        },
        {},
        msl.ContextWindowExceededError,
    ),
    (
        400,
        {"error": {"message": "The response was filtered", "code": "content_filter"}},
        {},
        msl.ContentFilterError,
    ),
    (
        400,
        {"error": {"message": "Invalid value for 'role'", "code": None}},
        {},
        msl.BadRequestError,
    ),
    (500, {"error": {"message": "The server had an error"}}, {}, msl.ServerError),
    (503, {"error": {"message": "Overloaded"}}, {"retry-after-ms": "1500"}, msl.ServerError),
]


@pytest.mark.parametrize(("status", "body", "headers", "error"), ERROR_CASES)
def test_provider_errors_map_to_the_core_hierarchy(
    loopback: LoopbackServer,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    error: type,
) -> None:
    loopback.add(Reply.json(body, status=status, headers={"x-request-id": "req-e", **headers}))
    with pytest.raises(error) as info:
        call(doc(loopback.url))
    err = info.value
    assert type(err) is error
    assert (err.status, err.request_id, err.sdk, err.model) == (
        status,
        "req-e",
        "OpenAI",
        "gpt-test",
    )
    assert body["error"]["message"].replace(CANARY, "***") in str(err)
    assert err.__cause__ is not None
    for text in (str(err), repr(err), str(err.__cause__), repr(err.__cause__)):
        assert CANARY not in text
    if status == 429:
        assert err.retry_after == 3
    assert len(loopback.requests) == 1, "the SDK's hidden retries must be off"


def test_timeout_from_the_document(loopback: LoopbackServer) -> None:
    loopback.add(Reply(delay=2.0))
    with pytest.raises(msl.APITimeoutError):
        call(doc(loopback.url, timeout=0.3))


def test_connection_failures(loopback: LoopbackServer) -> None:
    loopback.add(Reply(drop=True))
    with pytest.raises(msl.APIConnectionError):
        call(doc(loopback.url))
    port = loopback.port
    loopback.close()
    with pytest.raises(msl.APIConnectionError, match="connection failed"):
        call(doc(f"http://127.0.0.1:{port}"))


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"endpoint": None, "deployment": ""}, {"endpoint", "deployment"}),
        ({"endpoint": "http://api.openai.com/v1"}, {"endpoint"}),
        ({"messageFormat": "chat"}, {"messageFormat"}),
        ({"omitTemperature": "yes", "timeout": -1}, {"omitTemperature", "timeout"}),
        ({"extraBody": ["x"]}, {"extraBody"}),
    ],
)
def test_validate_config_names_every_bad_field(change: dict[str, Any], fields: set[str]) -> None:
    with pytest.raises(msl.ConfigurationError) as info:
        REGISTRY.get_sdk("OpenAI").validate_config({**doc("https://api.openai.com/v1"), **change})
    assert set(info.value.fields) == fields
    for field in fields:
        assert f"'{field}'" in str(info.value)


def test_importing_the_plugin_does_not_import_openai() -> None:
    code = (
        "import sys, metasync_llm_openai.plugin as p; p.OpenAISDK().get_name();"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'httpx2')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**os.environ}
    )
    assert json.loads(out.stdout.replace("'", '"')) == []
