"""Conversations, schemas and stop sequences through every provider plugin, over real HTTP.

Loopback servers show what goes on the wire (the turns in order with the provider's
roles, the native structured-output parameter, the stop sequences) and the re-ask after
an invalid answer; the providers' spec servers show the requests are accepted.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
from collections.abc import Callable
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm import PluginRegistry, complete_with_model, stream_with_model
from metasync_llm.testing import LoopbackServer, Reply, wires

KEY = "sk-conversation-test-1234"
SDKS = {
    "OpenAI": ("metasync_llm_openai", "openai", {}),
    "AzureOpenAI": ("metasync_llm_azure_openai", "azure-openai", {"apiVersion": "2024-10-21"}),
    "Anthropic": ("metasync_llm_anthropic", "anthropic", {}),
    "ChatCompletionsClient": (
        "metasync_llm_azure_inference",
        "azure-ai-inference",
        {"apiVersion": "2025-04-01"},
    ),
    "Gemini": ("metasync_llm_gemini", "gemini", {}),
}
TURNS = [
    {"role": "user", "content": "Name a colour."},
    {"role": "assistant", "content": "Blue."},
    {"role": "user", "content": "Another one."},
]
SCHEMA = {
    "title": "Colour",
    "type": "object",
    "properties": {"colour": {"type": "string"}},
    "required": ["colour"],
    "additionalProperties": False,
}
_REGISTRIES: dict[str, PluginRegistry] = {}


def registry(sdk: str) -> PluginRegistry:
    module = SDKS[sdk][0]
    if importlib.util.find_spec(module) is None:
        if os.environ.get("METASYNC_REQUIRE_PEERS") == "1":
            pytest.fail(f"{module} is not installed")
        pytest.skip(f"{module} is not installed")
    return _REGISTRIES.setdefault(sdk, PluginRegistry(allow={sdk}))


def doc(sdk: str, endpoint: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"{sdk}-turns",
        "sdk": sdk,
        "endpoint": endpoint,
        "deployment": "claude-opus-5" if sdk == "Anthropic" else "gpt-4o",
        "key": "KEY-TURNS",
        "retry": {"attempts": 1},
        **SDKS[sdk][2],
        **extra,
    }


def answer(sdk: str, text: str) -> Reply:
    if sdk == "Anthropic":
        return Reply.sse(wires.anthropic_events([text]), done=False, named=True)
    if sdk == "Gemini":
        return Reply.json(wires.gemini_response(text))
    return Reply.json(wires.chat_completion(text))


def sent_turns(sdk: str, body: dict[str, Any]) -> list[dict[str, str]]:
    """The conversation a request carries, as ``{"role", "content"}`` turns."""
    if sdk != "Gemini":
        return list(body["messages"])
    return [
        {
            "role": "assistant" if turn["role"] == "model" else "user",
            "content": "".join(part["text"] for part in turn["parts"]),
        }
        for turn in body["contents"]
    ]


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_the_turns_go_in_order_with_the_providers_roles(sdk: str, loopback: LoopbackServer) -> None:
    reg = registry(sdk)
    loopback.add(answer(sdk, "Green."))
    result = complete_with_model(
        doc(sdk, loopback.url),
        "Answer in one word.",
        messages=TURNS,
        stop=["\n"],
        api_key=KEY,
        registry=reg,
    )
    assert result.text == "Green."
    body = loopback.requests[0].json()
    turns = [{"role": t["role"], "content": t["content"]} for t in TURNS]
    if sdk == "Anthropic":
        assert body["system"] == "Answer in one word." and body["messages"] == turns
        assert body["stop_sequences"] == ["\n"]
    elif sdk == "Gemini":
        assert body["systemInstruction"]["parts"] == [{"text": "Answer in one word."}]
        assert sent_turns(sdk, body) == turns
        assert body["contents"][1]["role"] == "model"
        assert body["generationConfig"]["stopSequences"] == ["\n"]
    else:
        assert body["messages"] == [{"role": "system", "content": "Answer in one word."}, *turns]
        assert body["stop"] == ["\n"]


def test_anthropic_merges_consecutive_turns_of_one_role(loopback: LoopbackServer) -> None:
    reg = registry("Anthropic")
    loopback.add(answer("Anthropic", "ok"))
    turns = [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "three"},
        {"role": "assistant", "content": "four"},
        {"role": "user", "content": "five"},
    ]
    complete_with_model(
        doc("Anthropic", loopback.url), "", messages=turns, api_key=KEY, registry=reg
    )
    assert loopback.requests[0].json()["messages"] == [
        {"role": "user", "content": "one\n\ntwo"},
        {"role": "assistant", "content": "three\n\nfour"},
        {"role": "user", "content": "five"},
    ]


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_a_schema_goes_natively_and_a_valid_answer_lands_in_data(
    sdk: str, loopback: LoopbackServer
) -> None:
    reg = registry(sdk)
    loopback.add(answer(sdk, '{"colour": "red"}'))
    result = complete_with_model(
        doc(sdk, loopback.url), "", "A colour?", schema=SCHEMA, api_key=KEY, registry=reg
    )
    assert result.data == {"colour": "red"}
    body = loopback.requests[0].json()
    if sdk == "Anthropic":
        assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    elif sdk == "Gemini":
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"] == SCHEMA
    else:
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "Colour", "schema": SCHEMA, "strict": True},
        }


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_an_invalid_answer_is_re_asked_once_then_raises(sdk: str, loopback: LoopbackServer) -> None:
    reg = registry(sdk)
    loopback.add(answer(sdk, '{"color": "red"}'), answer(sdk, '{"colour": "blue"}'))
    result = complete_with_model(
        doc(sdk, loopback.url), "", "A colour?", schema=SCHEMA, api_key=KEY, registry=reg
    )
    assert result.data == {"colour": "blue"} and result.attempts == 2
    again = sent_turns(sdk, loopback.requests[1].json())
    assert again[-2] == {"role": "assistant", "content": '{"color": "red"}'}
    assert again[-1]["role"] == "user" and "'colour' is a required property" in again[-1]["content"]

    loopback.add(answer(sdk, "no JSON here"), answer(sdk, "still none"))
    with pytest.raises(msl.SchemaValidationError) as info:
        complete_with_model(
            doc(sdk, loopback.url), "", "A colour?", schema=SCHEMA, api_key=KEY, registry=reg
        )
    assert info.value.result is not None and info.value.result.text == "still none"
    assert len(loopback.requests) == 4


def test_native_enforcement_can_be_switched_off(loopback: LoopbackServer) -> None:
    reg = registry("OpenAI")
    loopback.add(answer("OpenAI", '{"colour": "red"}'))
    result = complete_with_model(
        doc("OpenAI", loopback.url, nativeSchema=False),
        "Sys.",
        "Q?",
        schema=SCHEMA,
        api_key=KEY,
        registry=reg,
    )
    body = loopback.requests[0].json()
    assert "response_format" not in body and result.data == {"colour": "red"}
    assert body["messages"][0]["content"].startswith("Sys.\n\nAnswer with JSON only")


def test_a_schema_openai_strict_mode_cannot_take_goes_without_strict(
    loopback: LoopbackServer,
) -> None:
    reg = registry("OpenAI")
    loose = {"type": "object", "properties": {"colour": {"type": "string"}}}
    loopback.add(answer("OpenAI", '{"colour": "red"}'))
    complete_with_model(
        doc("OpenAI", loopback.url), "", "Q?", schema=loose, api_key=KEY, registry=reg
    )
    assert loopback.requests[0].json()["response_format"]["json_schema"]["strict"] is False


def test_a_stop_sequence_is_reported_as_the_finish_reason(loopback: LoopbackServer) -> None:
    reg = registry("Anthropic")
    loopback.add(
        Reply.sse(wires.anthropic_events(["one "], stop="stop_sequence"), done=False, named=True)
    )
    result = complete_with_model(
        doc("Anthropic", loopback.url), "", "count", stop=["two"], api_key=KEY, registry=reg
    )
    assert result.finish_reason == "stop_sequence"


def test_openai_takes_at_most_four_stop_sequences_on_its_own_api(
    loopback: LoopbackServer,
) -> None:
    reg = registry("OpenAI")
    five = ["a", "b", "c", "d", "e"]
    with pytest.raises(msl.ConfigurationError, match="at most 4"):
        complete_with_model(
            doc("OpenAI", "https://api.openai.com/v1"),
            "",
            "q",
            stop=five,
            api_key=KEY,
            registry=reg,
        )
    # Another server speaking the API (vLLM, llama.cpp) sets its own limit: it decides.
    loopback.add(answer("OpenAI", "ok"))
    result = complete_with_model(
        doc("OpenAI", loopback.url), "", "q", stop=five, api_key=KEY, registry=reg
    )
    assert result.text == "ok" and loopback.requests[-1].json()["stop"] == five
    with pytest.raises(msl.ConfigurationError, match="at most 4"):  # Azure's limit holds
        complete_with_model(
            doc("AzureOpenAI", loopback.url),
            "",
            "q",
            stop=five,
            api_key=KEY,
            registry=registry("AzureOpenAI"),
        )


# -- the providers' spec servers accept what the plugins send ----------------------------


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_the_spec_server_accepts_a_three_turn_conversation(
    sdk: str, peer: Callable[[str], str]
) -> None:
    reg = registry(sdk)
    model = doc(sdk, peer(SDKS[sdk][1]))
    result = complete_with_model(
        model, "Be brief.", messages=TURNS, stop=["\n\n"], max_tokens=32, api_key=KEY, registry=reg
    )
    assert isinstance(result.text, str) and result.text
    with stream_with_model(
        model, "Be brief.", messages=TURNS, max_tokens=32, api_key=KEY, registry=reg
    ) as stream:
        assert "".join(stream) == stream.text


@pytest.mark.parametrize("sdk", ["OpenAI", "Anthropic", "ChatCompletionsClient", "Gemini"])
def test_the_spec_server_accepts_a_schema_request(sdk: str, peer: Callable[[str], str]) -> None:
    """Accepted means no 422: the spec's placeholder answer does not fit the schema."""
    reg = registry(sdk)
    model = doc(sdk, peer(SDKS[sdk][1]), schemaRetries=0)
    try:
        result = complete_with_model(
            model, "", "A colour?", schema=SCHEMA, max_tokens=32, api_key=KEY, registry=reg
        )
    except msl.SchemaValidationError as exc:
        assert exc.result is not None and exc.result.text  # parsed, just not valid
    else:
        assert result.data is not None


def test_azure_openai_schema_request_against_a_loopback_server(loopback: LoopbackServer) -> None:
    """The Azure OpenAI 2024-10-21 spec served in ../shared/peers rejects a valid
    json_schema response format with 422 (a known bug of that spec), so this request is
    checked against a loopback server instead: the same body the OpenAI spec accepts."""
    reg = registry("AzureOpenAI")
    loopback.add(answer("AzureOpenAI", '{"colour": "teal"}'))
    result = complete_with_model(
        doc("AzureOpenAI", loopback.url), "", "A colour?", schema=SCHEMA, api_key=KEY, registry=reg
    )
    assert result.data == {"colour": "teal"}
    sent = loopback.requests[0]
    assert sent.path.startswith("/openai/deployments/gpt-4o/chat/completions")
    assert sent.json()["response_format"]["type"] == "json_schema"
    assert json.loads(json.dumps(sent.json()["response_format"]["json_schema"]["schema"])) == SCHEMA


# -- OpenAI-compatible servers as they are -----------------------------------------------


@pytest.mark.parametrize(
    ("server", "body"),
    [
        (
            "llama.cpp llama-server",
            {
                "error": {
                    "code": 400,
                    "message": "request (5000 tokens) exceeds the available context size"
                    " (4096 tokens), try increasing it",
                    "type": "exceed_context_size_error",
                    "n_prompt_tokens": 5000,
                    "n_ctx": 4096,
                }
            },
        ),
        (
            "vLLM",
            {
                "object": "error",
                "message": "This model's maximum context length is 4096 tokens. However, you"
                " requested 5000 tokens (4000 in the messages, 1000 in the completion).",
                "type": "BadRequestError",
                "code": 400,
            },
        ),
        (
            "vLLM, newer",
            {
                "error": {
                    "message": "The prompt (5000 tokens) is longer than the maximum model"
                    " length of 4096.",
                    "type": "BadRequestError",
                    "code": 400,
                }
            },
        ),
        (
            "Ollama",
            {"error": {"message": "prompt too long; exceeded max context length by 904 tokens"}},
        ),
        (
            "LM Studio",
            {
                "error": "Trying to keep the first 5000 tokens when context the overflows."
                " However, the model is loaded with context length of only 4096 tokens, which"
                " is not enough."
            },
        ),
    ],
)
def test_context_overflow_of_compatible_servers_is_context_window_exceeded(
    loopback: LoopbackServer, server: str, body: dict[str, Any]
) -> None:
    loopback.add(Reply.json(body, 400))
    with pytest.raises(msl.ContextWindowExceededError):
        complete_with_model(
            doc("OpenAI", loopback.url), "", "q", api_key=KEY, registry=registry("OpenAI")
        )


def _llama_cpp_python(request: Any) -> Reply:
    """llama-cpp-python's server: ``response_format`` types text and json_object only."""
    kind = (request.json().get("response_format") or {}).get("type", "text")
    if kind not in ("text", "json_object"):
        message = (
            "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n"
            f"  Input should be 'text' or 'json_object' [type=literal_error,"
            f" input_value='{kind}', input_type=str]"
        )
        return Reply.json({"error": {"message": message, "type": "internal_server_error"}}, 500)
    return Reply.json(wires.chat_completion('{"colour": "red"}'))


def test_a_server_refusing_native_schemas_gets_the_schema_in_the_prompt() -> None:
    """One extra request on the first call, none after: the endpoint is remembered."""
    reg = registry("OpenAI")
    with LoopbackServer(default=_llama_cpp_python) as server:
        model = doc("OpenAI", server.url, retry={"attempts": 3, "initialDelay": 0.01})
        first = complete_with_model(model, "Sys.", "Q?", schema=SCHEMA, api_key=KEY, registry=reg)
        assert first.data == {"colour": "red"}
        kinds = [r.json().get("response_format", {}).get("type") for r in server.requests]
        assert kinds == ["json_schema", None]  # the 500 is not retried as it stands
        told = server.requests[1].json()["messages"][0]["content"]
        assert told.startswith("Sys.\n\nAnswer with JSON only") and '"colour"' in told
        again = asyncio.run(
            msl.acomplete_with_model(model, "", "Q?", schema=SCHEMA, api_key=KEY, registry=reg)
        )
        assert again.data == {"colour": "red"} and len(server.requests) == 3
        assert "response_format" not in server.requests[2].json()
        # Without a schema nothing changes; another endpoint is asked natively first.
        complete_with_model(model, "", "Q?", api_key=KEY, registry=reg)
    with LoopbackServer(default=_llama_cpp_python) as other:
        model = doc("OpenAI", other.url)
        result = asyncio.run(
            msl.acomplete_with_model(model, "", "Q?", schema=SCHEMA, api_key=KEY, registry=reg)
        )
        assert result.data == {"colour": "red"} and len(other.requests) == 2


def test_other_server_errors_are_not_taken_for_a_refused_schema(loopback: LoopbackServer) -> None:
    loopback.add(Reply.json({"error": {"message": "the GPU fell over"}}, 500))
    with pytest.raises(msl.ServerError):
        complete_with_model(
            doc("OpenAI", loopback.url),
            "",
            "Q?",
            schema=SCHEMA,
            api_key=KEY,
            registry=registry("OpenAI"),
        )
    assert len(loopback.requests) == 1  # attempts: 1, and no fallback request


@pytest.mark.parametrize(
    ("sdk", "expected"),
    [
        ("OpenAI", [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}]),
        ("AzureOpenAI", [{"role": "system", "content": "Be terse.\n\nhi"}]),
        ("ChatCompletionsClient", [{"role": "system", "content": "Be terse.\n\nhi"}]),
    ],
)
def test_a_one_turn_call_is_two_turns_or_the_seeds_combined_message_with_a_separator(
    sdk: str, expected: list[dict[str, str]], loopback: LoopbackServer
) -> None:
    loopback.add(answer(sdk, "ok"), answer(sdk, "ok"))
    reg = registry(sdk)
    complete_with_model(doc(sdk, loopback.url), "Be terse.", "hi", api_key=KEY, registry=reg)
    assert loopback.requests[0].json()["messages"] == expected
    # The other form, asked for by the document.
    other = "combined" if sdk == "OpenAI" else "separate"
    model = doc(sdk, loopback.url, messageFormat=other)
    complete_with_model(model, "Be terse.", "hi", api_key=KEY, registry=reg)
    sent = loopback.requests[1].json()["messages"]
    assert sent == (
        [{"role": "system", "content": "Be terse.\n\nhi"}]
        if other == "combined"
        else [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}]
    )
