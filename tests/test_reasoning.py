"""Reasoning controls through the public API: the argument and the document field, each
provider's native form, what a provider cannot honour, and the reasoning read back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from test_conversations_plugins import SDKS, doc, registry
from test_tools_plugins import text_answer

import metasync_llm as msl
from metasync_llm import complete_with_model, stream_with_model
from metasync_llm.testing import LoopbackServer, Reply, wires

KEY = "sk-reasoning-test-3456"
TEST = {"name": "thinker", "sdk": "test", "deployment": "echo"}


# -- the argument and the document field ---------------------------------------------------


def test_reasoning_is_returned_apart_from_the_text_and_billed_as_output() -> None:
    plain = complete_with_model(TEST, "", "two words")
    result = complete_with_model(TEST, "", "two words", reasoning="high")
    assert result.text == plain.text == "two words"
    assert result.reasoning == "Thought it over (reasoning=high)."
    assert result.reasoning_tokens is not None and plain.completion_tokens is not None
    assert result.completion_tokens == plain.completion_tokens + result.reasoning_tokens
    with stream_with_model(TEST, "", "two words", reasoning=2048) as stream:
        assert "".join(stream) == "two words"  # no reasoning in the chunks
    assert stream.result.reasoning == "Thought it over (reasoning=2048)."


def test_the_documents_field_is_the_default_and_the_argument_wins() -> None:
    model = {**TEST, "reasoning": "low"}
    assert complete_with_model(model, "", "x").reasoning == "Thought it over (reasoning=low)."
    assert complete_with_model(model, "", "x", reasoning="none").reasoning is None
    assert complete_with_model(TEST, "", "x").reasoning is None


@pytest.mark.parametrize("value", ["extreme", 0, -5, True, 1.5, ["high"]])
def test_a_bad_value_names_the_field(value: Any) -> None:
    with pytest.raises(msl.ConfigurationError) as info:
        complete_with_model(TEST, "", "x", reasoning=value)
    assert info.value.fields == ("reasoning",)
    with pytest.raises(msl.ConfigurationError) as info:
        msl.connector.validate_model({**TEST, "reasoning": value})
    assert "reasoning" in info.value.fields


def test_a_seed_plugin_refuses_reasoning_naming_itself(plugin_registry: msl.PluginRegistry) -> None:
    with pytest.raises(
        msl.ConfigurationError, match=r"Good \(msl-good .*does not declare reasoning"
    ):
        complete_with_model(
            {"name": "g", "sdk": "Good", "deployment": "d"},
            "",
            "x",
            reasoning="low",
            api_key="sk-test-1234",
            registry=plugin_registry,
        )


# -- each provider's form ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sdk", "value", "expected"),
    [
        ("OpenAI", "high", {"reasoning_effort": "high"}),
        ("OpenAI", "none", {"reasoning_effort": "none"}),
        (
            "Anthropic",
            "medium",
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}},
        ),
        ("Anthropic", 2048, {"thinking": {"type": "enabled", "budget_tokens": 2048}}),
        ("Anthropic", "none", {"thinking": {"type": "disabled"}}),
    ],
)
def test_reasoning_goes_in_the_providers_own_form(
    sdk: str, value: Any, expected: dict[str, Any], loopback: LoopbackServer
) -> None:
    loopback.add(text_answer(sdk, "ok"))
    complete_with_model(
        doc(sdk, loopback.url), "", "q", reasoning=value, api_key=KEY, registry=registry(sdk)
    )
    body = loopback.requests[0].json()
    assert {k: body.get(k) for k in expected} == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("low", {"include_thoughts": True, "thinking_level": "LOW"}),
        (4096, {"include_thoughts": True, "thinking_budget": 4096}),
        ("none", {"include_thoughts": False, "thinking_budget": 0}),
    ],
)
def test_gemini_takes_a_thinking_config(  # google-genai sends its fields by Python name
    value: Any, expected: dict[str, Any], loopback: LoopbackServer
) -> None:
    loopback.add(text_answer("Gemini", "ok"))
    complete_with_model(
        doc("Gemini", loopback.url),
        "",
        "q",
        reasoning=value,
        api_key=KEY,
        registry=registry("Gemini"),
    )
    assert loopback.requests[0].json()["generationConfig"]["thinkingConfig"] == expected


def test_azure_openai_takes_reasoning_from_the_api_version_that_has_it(
    loopback: LoopbackServer,
) -> None:
    reg = registry("AzureOpenAI")
    with pytest.raises(
        msl.ConfigurationError, match="API version 2024-10-21 has no reasoning_effort"
    ):
        complete_with_model(
            doc("AzureOpenAI", loopback.url), "", "q", reasoning="low", api_key=KEY, registry=reg
        )
    loopback.add(text_answer("AzureOpenAI", "ok"))
    newer = doc("AzureOpenAI", loopback.url, apiVersion="2025-04-01-preview")
    complete_with_model(newer, "", "q", reasoning="low", api_key=KEY, registry=reg)
    assert loopback.requests[0].json()["reasoning_effort"] == "low"


@pytest.mark.parametrize(
    ("sdk", "value", "message"),
    [
        ("OpenAI", 2048, "it takes a level"),
        ("ChatCompletionsClient", "low", "does not declare reasoning controls"),
        ("Anthropic", 512, "at least 1024 tokens and below max_tokens"),
    ],
)
def test_what_a_provider_cannot_honour_is_refused_before_any_request(
    sdk: str, value: Any, message: str, loopback: LoopbackServer
) -> None:
    with pytest.raises(msl.ConfigurationError, match=message) as info:
        complete_with_model(
            doc(sdk, loopback.url), "", "q", reasoning=value, api_key=KEY, registry=registry(sdk)
        )
    assert f"SDK {sdk} (" in str(info.value) and info.value.fields == ("reasoning",)
    assert loopback.requests == []


# -- the reasoning read back ---------------------------------------------------------------


def test_openai_reports_reasoning_tokens(loopback: LoopbackServer) -> None:
    body = wires.chat_completion(
        "ok", usage={"prompt_tokens": 5, "completion_tokens": 40, "total_tokens": 45}
    )
    body["usage"]["completion_tokens_details"] = {"reasoning_tokens": 32}
    loopback.add(Reply.json(body))
    result = complete_with_model(
        doc("OpenAI", loopback.url),
        "",
        "q",
        reasoning="high",
        api_key=KEY,
        registry=registry("OpenAI"),
    )
    assert (result.reasoning_tokens, result.completion_tokens) == (32, 40)


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_content_of_chat_completions_servers_is_read(
    stream: bool, loopback: LoopbackServer
) -> None:
    if stream:
        chunks = wires.chat_chunks(["Blue."])
        chunks[0]["choices"][0]["delta"]["reasoning_content"] = "The sky is blue."
        loopback.add(Reply.sse(chunks))
    else:
        body = wires.chat_completion("Blue.")
        body["choices"][0]["message"]["reasoning_content"] = "The sky is blue."
        loopback.add(Reply.json(body))
    model = doc("ChatCompletionsClient", loopback.url)
    reg = registry("ChatCompletionsClient")
    if stream:
        with stream_with_model(model, "", "q", api_key=KEY, registry=reg) as chunks_read:
            assert "".join(chunks_read) == "Blue."
        result = chunks_read.result
    else:
        result = complete_with_model(model, "", "q", api_key=KEY, registry=reg)
    assert (result.text, result.reasoning) == ("Blue.", "The sky is blue.")


def _anthropic_thinking_events() -> list[dict[str, Any]]:
    events = wires.anthropic_events(["Four."])
    thinking = [
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": ""},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Two and "},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "two."},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig-123"},
        },
        {"type": "content_block_stop", "index": 0},
    ]
    for event in events[1:4]:  # the text block moves to index 1
        event["index"] = 1
    return [events[0], *thinking, *events[1:]]


def test_anthropic_thinking_is_read_and_sent_back_signed(loopback: LoopbackServer) -> None:
    reg = registry("Anthropic")
    loopback.add(
        Reply.sse(_anthropic_thinking_events(), done=False, named=True),
        text_answer("Anthropic", "Yes."),
    )
    model = doc("Anthropic", loopback.url)
    result = complete_with_model(model, "", "2+2?", reasoning=2048, api_key=KEY, registry=reg)
    assert (result.text, result.reasoning) == ("Four.", "Two and two.")
    block = {"type": "thinking", "thinking": "Two and two.", "signature": "sig-123"}
    assert result.message["reasoning"] == [block]
    turns = [
        {"role": "user", "content": "2+2?"},
        result.message,
        {"role": "user", "content": "Sure?"},
    ]
    complete_with_model(model, "", messages=turns, reasoning=2048, api_key=KEY, registry=reg)
    assistant = loopback.requests[1].json()["messages"][1]
    assert assistant == {"role": "assistant", "content": [block, {"type": "text", "text": "Four."}]}


def test_gemini_thought_summaries_are_reasoning_not_text(loopback: LoopbackServer) -> None:
    body = wires.gemini_response("Four.")
    body["candidates"][0]["content"]["parts"].insert(0, {"text": "Adding.", "thought": True})
    body["usageMetadata"] = {
        "promptTokenCount": 3,
        "candidatesTokenCount": 2,
        "thoughtsTokenCount": 7,
        "totalTokenCount": 12,
    }
    loopback.add(Reply.json(body))
    result = complete_with_model(
        doc("Gemini", loopback.url),
        "",
        "2+2?",
        reasoning="low",
        api_key=KEY,
        registry=registry("Gemini"),
    )
    assert (result.text, result.reasoning, result.reasoning_tokens, result.completion_tokens) == (
        "Four.",
        "Adding.",
        7,
        9,
    )


# -- the official specs accept them --------------------------------------------------------


@pytest.mark.parametrize(
    ("sdk", "value"),
    [("OpenAI", "low"), ("Anthropic", "high"), ("Anthropic", 1024), ("Gemini", 1024)],
)
def test_the_spec_server_accepts_reasoning_settings(
    sdk: str, value: Any, peer: Callable[[str], str]
) -> None:
    model = doc(sdk, peer(SDKS[sdk][1]))
    result = complete_with_model(
        model, "", "q", reasoning=value, max_tokens=2048, api_key=KEY, registry=registry(sdk)
    )
    assert isinstance(result.text, str)
