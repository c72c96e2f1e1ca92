"""Conversations, structured output and stop sequences, through the built-in test SDK.

The provider plugins' side (what goes on the wire, what the spec servers accept) is in
test_conversations_plugins.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

import metasync_llm as msl
from metasync_llm import (
    PluginRegistry,
    acomplete_with_model,
    astream_with_model,
    complete_with_model,
    stream_with_model,
)
from metasync_llm._structured._schema import example, prepare_schema

ECHO = {"name": "echo", "sdk": "test", "deployment": "echo"}
JSON = {"name": "json", "sdk": "test", "deployment": "structured"}
TURNS = [
    {"role": "user", "content": "What is two and two?"},
    {"role": "assistant", "content": "Four."},
    {"role": "user", "content": "And three and three?"},
]


def test_the_test_sdk_answers_the_last_user_turn_and_counts_every_turn() -> None:
    result = complete_with_model(ECHO, "Be brief.", messages=TURNS)
    assert result.text == "And three and three?"
    expected = 3 + sum(
        len(t["content"].replace("?", " ?").replace(".", " .").split()) for t in TURNS
    )
    assert result.prompt_tokens == expected


def test_every_entry_point_takes_a_conversation() -> None:
    with stream_with_model(ECHO, "", messages=TURNS) as stream:
        assert "".join(stream) == "And three and three?"

    async def run() -> tuple[str, str]:
        done = await acomplete_with_model(ECHO, "", messages=TURNS)
        async with astream_with_model(ECHO, "", messages=TURNS) as astream:
            streamed = await astream.until_done()
        return done.text, streamed.text

    assert asyncio.run(run()) == ("And three and three?", "And three and three?")


def test_a_leading_system_message_is_the_system_prompt() -> None:
    described = complete_with_model(
        JSON, "", messages=[{"role": "system", "content": "Sys."}, *TURNS]
    )
    data = json.loads(described.text)
    assert data["system_prompt"] == "Sys." and len(data["messages"]) == 3


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [
        ({"user_content": "hi", "messages": TURNS}, ("messages", "user_content")),
        ({"messages": []}, ("messages",)),
        ({"messages": "hello"}, ("messages",)),
        ({"messages": [{"role": "tool", "content": "x"}]}, ("messages",)),
        ({"messages": [{"role": "user", "content": 5}]}, ("messages",)),
        (
            {"system_prompt": "S", "messages": [{"role": "system", "content": "T"}, *TURNS]},
            ("messages",),
        ),
        ({"stop": ""}, ("stop",)),
        ({"stop": [1]}, ("stop",)),
        ({"stop": [f"s{i}" for i in range(17)]}, ("stop",)),
        ({"schema": "not a schema"}, ("schema",)),
        ({"schema": {"type": "no-such-type"}}, ("schema",)),
    ],
)
def test_bad_conversations_stops_and_schemas_name_the_argument(
    kwargs: dict[str, Any], fields: tuple[str, ...]
) -> None:
    args = {"system_prompt": "", **kwargs}
    with pytest.raises(msl.ConfigurationError) as info:
        complete_with_model(ECHO, **args)
    assert info.value.fields == fields


def test_a_seed_plugin_takes_one_turn_and_refuses_a_conversation(
    plugin_registry: PluginRegistry,
) -> None:
    doc = {"name": "g", "sdk": "Good", "deployment": "d"}
    one = complete_with_model(
        doc,
        "",
        messages=[{"role": "user", "content": "only"}],
        api_key="sk-test-1234",
        registry=plugin_registry,
    )
    assert one.text.startswith("only|key:")
    with pytest.raises(msl.ConfigurationError) as info:
        complete_with_model(
            doc, "", messages=TURNS, api_key="sk-test-1234", registry=plugin_registry
        )
    assert "Good (msl-good 2.3.4)" in str(info.value) and info.value.fields == ("messages",)
    with pytest.raises(msl.ConfigurationError, match="stop sequences"):
        complete_with_model(
            doc, "", "hi", stop="END", api_key="sk-test-1234", registry=plugin_registry
        )


def test_stop_sequences_end_the_answer_and_say_so() -> None:
    model = {**ECHO, "test": {"reply": "one two END three"}}
    result = complete_with_model(model, "", "hi", stop=["END", "never"])
    assert (result.text, result.finish_reason) == ("one two ", "stop_sequence")


# -- structured output -------------------------------------------------------------------

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 3},
        "age": {"type": "integer", "minimum": 18, "maximum": 99},
        "score": {"type": "number", "exclusiveMinimum": 0},
        "member": {"type": "boolean"},
        "colour": {"enum": ["red", "green"]},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": ["string", "null"]}},
            "required": ["city"],
        },
        "nickname": {"type": "string", "format": "email"},
    },
    "required": ["name", "age", "tags", "address"],
}


class Person(BaseModel):
    name: str
    age: int
    friends: list[str]


def test_the_test_sdk_answers_a_valid_instance_of_the_schema() -> None:
    result = complete_with_model(JSON, "", "describe someone", schema=SCHEMA)
    assert result.data == json.loads(result.text)
    assert result.data["age"] >= 18 and len(result.data["tags"]) == 2
    assert result.data["colour"] == "red" and "@" in result.data["nickname"]
    assert not prepare_schema(SCHEMA).validator.is_valid({"name": "x"})


def test_a_pydantic_model_gives_an_instance() -> None:
    result = complete_with_model(JSON, "", "someone", schema=Person)
    assert isinstance(result.data, Person) and result.data.friends == ["example"]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3},
        {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 2}]},
        {"type": "object", "properties": {"n": {"type": "number", "multipleOf": 3, "minimum": 4}}},
        {
            "$defs": {"P": {"type": "object", "properties": {"x": {"const": 7}}}},
            "type": "object",
            "properties": {"p": {"$ref": "#/$defs/P"}},
        },
        {"allOf": [{"type": "object", "properties": {"a": {"type": "boolean"}}}]},
        {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
    ],
)
def test_examples_are_valid_instances(schema: dict[str, Any]) -> None:
    assert prepare_schema(schema).validator.is_valid(example(schema)), example(schema)


def test_an_almost_json_answer_is_mended_before_validation() -> None:
    model = {
        **JSON,
        "test": {
            "reply": '```json\n{"name": "Ann", "age": 30, "tags": ["a", "b"],'
            ' "address": {"city": "Oslo"},}\n```'
        },
    }
    result = complete_with_model(model, "", "q", schema=SCHEMA)
    assert result.json_repaired and result.data["address"] == {"city": "Oslo"}
    assert "```" in result.raw_text and "```" not in result.text


def test_an_invalid_answer_is_re_asked_once_with_the_errors() -> None:
    model = {
        **JSON,
        "test": {
            "reply": [
                '{"name": "Al"}',
                '{"name": "Alan", "age": 40, "tags": ["x", "y"], "address": {"city": "Rome"}}',
            ]
        },
    }
    result = complete_with_model(model, "", "q", schema=SCHEMA)
    assert result.data["name"] == "Alan" and result.attempts == 2
    first = complete_with_model({**model, "test": {"reply": '{"name": "Al"}'}}, "", "q")
    assert result.prompt_tokens is not None and result.prompt_tokens > first.prompt_tokens


def test_an_answer_still_invalid_after_the_re_ask_raises_with_the_errors() -> None:
    model = {**JSON, "test": {"reply": '{"name": "Al", "age": 7}'}, "schemaRetries": 1}
    with pytest.raises(msl.SchemaValidationError) as info:
        complete_with_model(model, "", "q", schema=SCHEMA)
    error = info.value
    assert isinstance(error, msl.CompletionError) and error.result is not None
    assert error.result.data is None and error.result.text == '{"name": "Al", "age": 7}'
    assert any("$.age" in e and "18" in e for e in error.errors)
    assert any("'tags' is a required property" in e for e in error.errors)
    # Both asks were paid: the error's usage, cost and attempts count both.
    with pytest.raises(msl.SchemaValidationError) as once:
        complete_with_model({**model, "schemaRetries": 0}, "", "q", schema=SCHEMA)
    single = once.value.result
    assert single is not None and once.value.attempts == 1
    assert error.attempts == 2 and error.result.attempts == 2
    assert error.result.prompt_tokens is not None and single.prompt_tokens is not None
    assert error.result.prompt_tokens > 2 * single.prompt_tokens  # the re-ask is longer
    assert error.result.completion_tokens == 2 * single.completion_tokens


def test_async_re_asks_count_every_ask_in_the_error_too() -> None:
    model = {**JSON, "test": {"reply": '{"name": "Al", "age": 7}'}, "schemaRetries": 2}
    with pytest.raises(msl.SchemaValidationError) as info:
        asyncio.run(msl.acomplete_with_model(model, "", "q", schema=SCHEMA))
    assert info.value.attempts == 3 and info.value.result is not None
    assert info.value.result.attempts == 3


def test_a_truncated_answer_is_never_mended_into_valid_json() -> None:
    model = {**JSON, "test": {"reply": '{"name": "Ann", "age": 30, "tags": ["a", "b"]}'}}
    with pytest.raises(msl.TruncatedResponseError) as info:
        complete_with_model(model, "", "q", schema=SCHEMA, max_tokens=6)
    assert info.value.result is not None and info.value.result.raw_text == '{"name": "'


def test_a_stream_with_a_schema_yields_the_text_and_validates_at_the_end() -> None:
    with stream_with_model(JSON, "", "q", schema=SCHEMA) as stream:
        chunks = list(stream)
    assert len(chunks) > 1 and stream.result.data == json.loads("".join(chunks))
    bad = {**JSON, "test": {"reply": '{"name": "x"}'}}
    with pytest.raises(msl.SchemaValidationError):
        list(stream_with_model(bad, "", "q", schema=SCHEMA))


def test_without_native_enforcement_the_schema_goes_in_the_system_prompt() -> None:
    described = complete_with_model(
        {**JSON, "nativeSchema": False}, "Be brief.", "q", schema={"type": "object"}
    )
    system = json.loads(described.text)["system_prompt"]
    assert system.startswith("Be brief.\n\nAnswer with JSON only") and '"type": "object"' in system
    with pytest.raises(msl.ConfigurationError, match="nativeSchema"):
        complete_with_model({**JSON, "nativeSchema": "no"}, "", "q")


def test_calls_without_these_features_are_unchanged() -> None:
    result = complete_with_model(JSON, "S", "U")
    assert result.data is None
    assert "messages" not in json.loads(result.text) and "stop" not in json.loads(result.text)
