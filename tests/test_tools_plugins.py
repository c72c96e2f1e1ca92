"""Tool calling through every provider plugin, over real HTTP.

Loopback servers show what each plugin puts on the wire (tool definitions, the forced
choice, a conversation holding calls and results, in the provider's own form) and that it
reads what the provider sends back: whole answers, streamed argument fragments, parallel
calls, invalid arguments, a stream cut inside a call. The providers' spec servers
(``../shared/peers``) show the requests are accepted as the official APIs define them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from test_conversations_plugins import SDKS, doc, registry

import metasync_llm as msl
from metasync_llm import complete_with_model, run_tools, stream_with_model
from metasync_llm.testing import LoopbackServer, Reply, wires

KEY = "sk-tools-test-5678"
CHAT = ("OpenAI", "AzureOpenAI", "ChatCompletionsClient")
#: get_weather's parameters, as pydantic describes them (its titles left out).
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


def get_weather(city: str) -> str:
    """The weather in a city now."""
    return f"sunny in {city}"


def get_time(zone: str) -> str:
    """The time in a time zone."""
    return f"noon in {zone}"


PARIS = ("call_1", "get_weather", '{"city": "Paris"}')
UTC = ("call_2", "get_time", '{"zone": "UTC"}')


def tool_answer(sdk: str, calls: list[tuple[str, str, str]], *, stream: bool = False) -> Reply:
    """The provider's answer calling ``calls``, whole or streamed."""
    if sdk == "Anthropic":
        return Reply.sse(wires.anthropic_tool_events(calls), done=False, named=True)
    if sdk == "Gemini":
        whole = wires.gemini_tool_response([(i, n, json.loads(a)) for i, n, a in calls])
        return Reply.sse([whole], done=False) if stream else Reply.json(whole)
    if stream:
        return Reply.sse(wires.chat_tool_chunks(calls))
    return Reply.json(wires.chat_tool_calls(calls))


def text_answer(sdk: str, text: str) -> Reply:
    if sdk == "Anthropic":
        return Reply.sse(wires.anthropic_events([text]), done=False, named=True)
    if sdk == "Gemini":
        return Reply.json(wires.gemini_response(text))
    return Reply.json(wires.chat_completion(text))


def call(sdk: str, url: str, **kwargs: Any) -> msl.CompletionResult:
    return complete_with_model(
        doc(sdk, url), "Be brief.", api_key=KEY, registry=registry(sdk), **kwargs
    )


# -- the request -----------------------------------------------------------------------------


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_tools_and_a_forced_choice_go_in_the_providers_form(
    sdk: str, loopback: LoopbackServer
) -> None:
    loopback.add(tool_answer(sdk, [PARIS]))
    call(sdk, loopback.url, user_content="Weather?", tools=[get_weather], tool_choice="get_weather")
    body = loopback.requests[0].json()
    description = "The weather in a city now."
    if sdk == "Anthropic":
        assert body["tools"] == [
            {"name": "get_weather", "description": description, "input_schema": WEATHER}
        ]
        assert body["tool_choice"] == {"type": "tool", "name": "get_weather"}
    elif sdk == "Gemini":
        (declaration,) = body["tools"][0]["functionDeclarations"]
        assert declaration["name"] == "get_weather"
        assert declaration["description"] == description
        # google-genai sends a declaration's fields by their Python names (the API's JSON
        # parser takes both spellings).
        assert declaration["parameters_json_schema"] == WEATHER
        assert body["toolConfig"]["functionCallingConfig"] == {
            "mode": "ANY",
            "allowedFunctionNames": ["get_weather"],
        }
    else:
        assert body["tools"] == [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": description,
                    "parameters": WEATHER,
                },
            }
        ]
        assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


@pytest.mark.parametrize(
    ("choice", "anthropic", "gemini", "chat"),
    [
        ("auto", {"type": "auto"}, "AUTO", "auto"),
        ("none", {"type": "none"}, "NONE", "none"),
        ("required", {"type": "any"}, "ANY", "required"),
    ],
)
@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_each_tool_choice_maps_to_the_providers_own(
    sdk: str, choice: str, anthropic: Any, gemini: str, chat: str, loopback: LoopbackServer
) -> None:
    loopback.add(text_answer(sdk, "ok"))
    call(sdk, loopback.url, user_content="q", tools=[get_weather], tool_choice=choice)
    body = loopback.requests[0].json()
    if sdk == "Anthropic":
        assert body["tool_choice"] == anthropic
    elif sdk == "Gemini":
        assert body["toolConfig"]["functionCallingConfig"] == {"mode": gemini}
    else:
        assert body["tool_choice"] == chat


CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather and time?"},
    {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [
            {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}},
            {"id": "call_2", "name": "get_time", "arguments": {"zone": "UTC"}},
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    {"role": "tool", "tool_call_id": "call_2", "content": '{"time": "12:00"}'},
]


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_a_conversation_with_calls_and_results_goes_natively(
    sdk: str, loopback: LoopbackServer
) -> None:
    loopback.add(text_answer(sdk, "Sunny, noon."))
    result = call(sdk, loopback.url, messages=CONVERSATION, tools=[get_weather, get_time])
    assert result.text == "Sunny, noon." and result.tool_calls == ()
    body = loopback.requests[0].json()
    if sdk == "Anthropic":
        assert body["messages"][1:] == [
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Let me look."},
                    {
                        "type": "tool_use",
                        "id": "call_1",
                        "name": "get_weather",
                        "input": {"city": "Paris"},
                    },
                    {
                        "type": "tool_use",
                        "id": "call_2",
                        "name": "get_time",
                        "input": {"zone": "UTC"},
                    },
                ],
            },
            {  # both results merged into one user turn, as the API requires
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "call_2",
                        "content": '{"time": "12:00"}',
                    },
                ],
            },
        ]
    elif sdk == "Gemini":
        model_turn, results = body["contents"][1:]
        assert model_turn["role"] == "model"
        assert model_turn["parts"] == [
            {"text": "Let me look."},
            {"functionCall": {"id": "call_1", "name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"id": "call_2", "name": "get_time", "args": {"zone": "UTC"}}},
        ]
        assert results == {
            "role": "user",
            "parts": [
                {
                    "functionResponse": {
                        "id": "call_1",
                        "name": "get_weather",
                        "response": {"result": "sunny"},
                    }
                },
                {
                    "functionResponse": {
                        "id": "call_2",
                        "name": "get_time",
                        "response": {"time": "12:00"},
                    }
                },
            ],
        }
    else:
        assert body["messages"][2:] == [
            {
                "role": "assistant",
                "content": "Let me look.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"zone": "UTC"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "call_2", "content": '{"time": "12:00"}'},
        ]


# -- the answer ------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_parallel_calls_are_read_in_order(sdk: str, stream: bool, loopback: LoopbackServer) -> None:
    loopback.add(tool_answer(sdk, [PARIS, UTC], stream=stream))
    model = doc(sdk, loopback.url)
    if stream:
        with stream_with_model(
            model, "", "q", tools=[get_weather, get_time], api_key=KEY, registry=registry(sdk)
        ) as chunks:
            assert list(chunks) == []
        result = chunks.result
    else:
        result = call(sdk, loopback.url, user_content="q", tools=[get_weather, get_time])
    assert result.finish_reason == "tool_calls" and result.text == ""
    assert [(c.id, c.name, c.arguments, c.error) for c in result.tool_calls] == [
        ("call_1", "get_weather", {"city": "Paris"}, None),
        ("call_2", "get_time", {"zone": "UTC"}, None),
    ]


@pytest.mark.parametrize("sdk", ["Anthropic", "OpenAI", "ChatCompletionsClient"])
def test_invalid_streamed_arguments_are_an_error_on_the_call(
    sdk: str, loopback: LoopbackServer
) -> None:
    loopback.add(tool_answer(sdk, [("call_9", "get_weather", '{"city": 12}')], stream=True))
    result = call(sdk, loopback.url, user_content="q", tools=[get_weather])
    (bad,) = result.tool_calls
    assert bad.arguments == {"city": 12} and "12 is not of type 'string'" in (bad.error or "")


@pytest.mark.parametrize("sdk", ["Anthropic", "OpenAI", "AzureOpenAI", "ChatCompletionsClient"])
def test_a_stream_cut_inside_a_tool_call_is_incomplete(sdk: str, loopback: LoopbackServer) -> None:
    if sdk == "Anthropic":
        cut = wires.anthropic_tool_events([PARIS], stop=None)[:-2]  # no block stop, no end
        loopback.add(Reply.sse(cut, done=False, named=True))
    else:
        chunks = wires.chat_tool_chunks([PARIS], finish=None)[:-1]
        loopback.add(Reply.sse(chunks, done=False))
    with pytest.raises(msl.IncompleteResponseError):
        call(sdk, loopback.url, user_content="q", tools=[get_weather])


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_run_tools_round_trips_through_the_provider(sdk: str, loopback: LoopbackServer) -> None:
    loopback.add(tool_answer(sdk, [PARIS]), text_answer(sdk, "It is sunny in Paris."))
    run = run_tools(
        doc(sdk, loopback.url),
        "",
        "Weather in Paris?",
        tools=[get_weather],
        api_key=KEY,
        registry=registry(sdk),
    )
    assert run.text == "It is sunny in Paris." and run.rounds == 2
    assert run.messages[2] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "sunny in Paris",
    }
    second = json.dumps(loopback.requests[1].json())
    assert "sunny in Paris" in second and "call_1" in second


def test_gemini_calls_without_ids_get_ids_the_results_can_name(loopback: LoopbackServer) -> None:
    body = wires.gemini_tool_response([(None, "get_weather", {"city": "Oslo"})])
    loopback.add(Reply.json(body), text_answer("Gemini", "Cold."))
    run = run_tools(
        doc("Gemini", loopback.url),
        "",
        "q",
        tools=[get_weather],
        api_key=KEY,
        registry=registry("Gemini"),
    )
    call_id = run.messages[1]["tool_calls"][0]["id"]
    assert call_id.startswith("call_") and run.messages[2]["tool_call_id"] == call_id
    response = loopback.requests[1].json()["contents"][-1]["parts"][0]["functionResponse"]
    assert response["name"] == "get_weather" and response["response"] == {"result": "sunny in Oslo"}


def test_bad_tools_never_reach_the_provider(loopback: LoopbackServer) -> None:
    with pytest.raises(msl.ConfigurationError):
        call("OpenAI", loopback.url, user_content="q", tools=[{"name": "bad name"}])
    assert loopback.requests == []


# -- the official specs accept what the plugins send ---------------------------------------


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_the_spec_server_accepts_tools_a_forced_choice_and_a_tool_conversation(
    sdk: str, peer: Callable[[str], str]
) -> None:
    if sdk == "AzureOpenAI":
        pytest.skip("the Azure OpenAI 2024-10-21 spec served here rejects valid bodies (README)")
    reg = registry(sdk)
    model = doc(sdk, peer(SDKS[sdk][1]))
    for kwargs in (
        {"user_content": "Weather?", "tools": [get_weather]},
        {"user_content": "Weather?", "tools": [get_weather], "tool_choice": "get_weather"},
        {"user_content": "Weather?", "tools": [get_weather], "tool_choice": "required"},
        {"messages": CONVERSATION, "tools": [get_weather, get_time]},
    ):
        result = complete_with_model(
            model, "Be brief.", max_tokens=32, api_key=KEY, registry=reg, **kwargs
        )
        assert isinstance(result.text, str)
        if sdk != "Anthropic":  # the spec's example answer calls a tool named "string"
            assert [c.name for c in result.tool_calls] == ["string"], result.tool_calls
            assert "not one of the tools" in (result.tool_calls[0].error or "")
            assert result.finish_reason == "tool_calls"
