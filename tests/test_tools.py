"""Tool calling through the public API: tools in, checked calls out, and the loop that runs them.

The built-in ``test`` SDK answers a turn with tool calls (the tools the prompt names, with
schema-valid example arguments) and a turn of tool results with text quoting them, so
every path here runs offline. What each provider puts on the wire is in
``test_tools_plugins.py``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import metasync_llm as msl
from metasync_llm import (
    Tool,
    ToolCall,
    acomplete_with_model,
    arun_tools,
    astream_with_model,
    complete_with_model,
    run_tools,
    stream_with_model,
)

DOC: dict[str, Any] = {
    "name": "tools",
    "sdk": "test",
    "deployment": "t",
    "cost": {"tokens": 1000, "currency": "USD", "input": 1.0, "output": 2.0},
}


def get_weather(city: str, unit: Literal["c", "f"] = "c") -> dict[str, Any]:
    """The weather in a city now.

    Uses a made-up service: this paragraph is not the description.
    """
    return {"city": city, "temperature": 21, "unit": unit}


async def get_time(zone: str) -> str:
    """The time of day in a time zone."""
    await asyncio.sleep(0)
    return f"12:00 in {zone}"


WEATHER_DICT = {
    "name": "get_weather",
    "description": "The weather in a city now.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def with_test(**options: Any) -> dict[str, Any]:
    return {**DOC, "test": options}


# -- tools in, calls out -------------------------------------------------------------------


def test_a_function_becomes_a_tool_and_the_model_calls_it_with_valid_arguments() -> None:
    result = complete_with_model(DOC, "", "What does get_weather say?", tools=[get_weather])
    assert result.finish_reason == "tool_calls" and result.text == ""
    (call,) = result.tool_calls
    assert call.name == "get_weather" and call.error is None
    assert isinstance(call.arguments["city"], str) and call.arguments["unit"] in ("c", "f")
    assert result.message == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": call.id, "name": "get_weather", "arguments": call.arguments}],
    }


def test_a_tool_a_dict_and_a_function_are_offered_alike() -> None:
    as_tool = Tool("get_weather", "The weather.", WEATHER_DICT["parameters"])
    for tools in ([as_tool], [WEATHER_DICT]):
        (call,) = complete_with_model(DOC, "", "x", tools=tools).tool_calls
        assert call.name == "get_weather" and set(call.arguments) == {"city"}


def test_parallel_calls_keep_the_order_the_model_gave() -> None:
    result = complete_with_model(
        DOC, "", "first get_time, then get_weather", tools=[get_weather, get_time]
    )
    assert [c.name for c in result.tool_calls] == ["get_time", "get_weather"]
    assert len({c.id for c in result.tool_calls}) == 2


def test_a_plain_answer_has_no_tool_calls() -> None:
    result = complete_with_model(DOC, "", "hello")
    assert result.tool_calls == () and "tool_calls" not in result.message


@pytest.mark.parametrize(
    ("choice", "called"),
    [("get_time", ["get_time"]), ("required", ["get_weather"]), ("auto", ["get_weather"])],
)
def test_tool_choice_forces_a_tool_or_leaves_it_to_the_model(
    choice: str, called: list[str]
) -> None:
    result = complete_with_model(DOC, "", "x", tools=[get_weather, get_time], tool_choice=choice)
    assert [c.name for c in result.tool_calls] == called


def test_tool_choice_none_gets_text() -> None:
    result = complete_with_model(DOC, "", "x", tools=[get_weather], tool_choice="none")
    assert result.tool_calls == () and result.text


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ('{"city": 3}', "3 is not of type 'string'"),
        ("{}", "'city' is a required property"),
        ('{"city": "Paris"', "not JSON"),
        ('["Paris"]', "list JSON, not an object"),
    ],
)
def test_invalid_arguments_are_reported_on_the_call(arguments: str, error: str) -> None:
    result = complete_with_model(with_test(toolArguments=arguments), "", "x", tools=[WEATHER_DICT])
    (call,) = result.tool_calls
    assert call.error is not None and error in call.error


def test_a_call_to_a_tool_that_was_not_offered_says_so() -> None:
    turns = [
        {"role": "user", "content": "x"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "name": "gone", "arguments": {}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    # The conversation may hold calls of tools no longer offered; the answer quotes it.
    result = complete_with_model(DOC, "", messages=turns, tools=[get_weather])
    assert result.text == "Tool results: gone: done"


def test_streams_end_with_the_calls_on_the_result() -> None:
    with stream_with_model(DOC, "", "get_weather", tools=[get_weather]) as stream:
        assert list(stream) == []
    assert [c.name for c in stream.result.tool_calls] == ["get_weather"]


def test_async_calls_and_streams_carry_tools() -> None:
    async def main() -> tuple[Any, Any]:
        result = await acomplete_with_model(DOC, "", "get_time", tools=[get_time])
        async with astream_with_model(
            DOC, "", "x", tools=[get_time], tool_choice="get_time"
        ) as stream:
            async for _ in stream:
                pass
        return result, stream.result

    blocking, streamed = asyncio.run(main())
    assert blocking.tool_calls[0].name == streamed.tool_calls[0].name == "get_time"


def test_observers_see_the_calls_named_on_the_end_event_and_whole_in_content() -> None:
    ended: list[Any] = []
    content: list[Any] = []

    class Observer:
        @msl.hookimpl
        def metasync_llm_call_ended(self, event: Any) -> None:
            ended.append(event)

        @msl.hookimpl
        def metasync_llm_call_content(self, event: Any) -> None:
            content.append(event)

    observer = Observer()
    msl.register_observer(observer)
    try:
        result = complete_with_model(DOC, "", "get_weather", tools=[get_weather])
    finally:
        msl.unregister_observer("Observer")
    assert ended[-1].tool_calls == ("get_weather",) and ended[-1].finish_reason == "tool_calls"
    assert content[-1].tool_calls == result.tool_calls


# -- bad tools are configuration errors, before any request --------------------------------


def _takes_args(*cities: str) -> str:
    return ""


def _takes_a_socket(sock: threading.Lock) -> str:
    return ""


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ([{"name": "get weather", "parameters": {"type": "object"}}], "'get weather'"),
        ([{"name": "x" * 65, "parameters": {"type": "object"}}], "1 to 64"),
        ([{"name": "w", "parameters": {"type": "array"}}], "JSON Schema object"),
        ([{"name": "w", "parameters": {"type": "object", "properties": 3}}], "not a valid"),
        ([{"name": "w", "params": {}}], "unknown keys ['params']"),
        ([get_weather, WEATHER_DICT], "two tools are named 'get_weather'"),
        ([_takes_args], "*cities"),
        ([_takes_a_socket], "'_takes_a_socket'"),
        ([42], "tools[0] is a int"),
        ([], "tools is empty"),
        ("get_weather", "must be a list"),
    ],
)
def test_a_bad_tool_is_a_configuration_error_naming_it(tools: Any, message: str) -> None:
    with pytest.raises(msl.ConfigurationError) as info:
        complete_with_model(DOC, "", "x", tools=tools)
    assert message in str(info.value) and info.value.fields == ("tools",)


@pytest.mark.parametrize(
    ("tools", "choice", "message"),
    [
        ([get_weather], "get_time", "the name of one of the tools ('get_weather')"),
        ([get_weather], "any", "got 'any'"),
        (None, "auto", "without tools"),
    ],
)
def test_a_bad_tool_choice_is_a_configuration_error(tools: Any, choice: str, message: str) -> None:
    with pytest.raises(msl.ConfigurationError, match="tool_choice") as info:
        complete_with_model(DOC, "", "x", tools=tools, tool_choice=choice)
    assert message in str(info.value) and info.value.fields == ("tool_choice",)


def test_a_tool_result_must_answer_an_earlier_call() -> None:
    turns = [
        {"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "nope", "content": "r"},
    ]
    with pytest.raises(msl.ConfigurationError, match="'nope', which no earlier"):
        complete_with_model(DOC, "", messages=turns, tools=[get_weather])


def test_openais_nested_tool_call_form_is_accepted_in_messages() -> None:
    turns = [
        {"role": "user", "content": "x"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c9",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c9", "content": "cold"},
    ]
    result = complete_with_model(DOC, "", messages=turns, tools=[get_weather])
    assert result.text == "Tool results: get_weather: cold"


# -- run_tools: the loop -------------------------------------------------------------------


def test_run_tools_runs_the_calls_and_returns_the_answer_with_the_transcript() -> None:
    run = run_tools(DOC, "Be brief.", "get_weather in Paris", tools=[get_weather])
    assert run.rounds == 2
    assert run.text.startswith("Tool results: get_weather: {")
    assert '"temperature": 21' in run.text
    roles = [m["role"] for m in run.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]
    call = run.messages[1]["tool_calls"][0]
    assert run.messages[2]["tool_call_id"] == call["id"]
    # The usage and cost are summed over both rounds.
    first = complete_with_model(DOC, "Be brief.", "get_weather in Paris", tools=[get_weather])
    assert run.prompt_tokens is not None and first.prompt_tokens is not None
    assert run.prompt_tokens > first.prompt_tokens
    assert run.total_tokens == run.prompt_tokens + run.completion_tokens  # type: ignore[operator]
    assert run.cost is not None and run.cost.total is not None
    assert first.cost is not None and first.cost.total is not None
    assert run.cost.total > first.cost.total


def test_the_transcript_is_reusable_as_messages() -> None:
    run = run_tools(DOC, "", "get_weather", tools=[get_weather])
    again = run_tools(
        DOC,
        "",
        messages=[*run.messages, {"role": "user", "content": "and get_time"}],
        tools=[get_weather, get_time],
    )
    assert again.text.startswith("Tool results: get_time: 12:00")
    assert again.messages[: len(run.messages)] == run.messages


class Place(BaseModel):
    city: str
    country: str = "NO"


def test_pydantic_model_parameters_arrive_as_instances() -> None:
    got: list[Any] = []

    def locate(place: Place) -> str:
        """Locate a place."""
        got.append(place)
        return place.city

    run_tools(DOC, "", "locate", tools=[locate])
    assert len(got) == 1 and isinstance(got[0], Place)


def test_invalid_arguments_never_reach_the_function_and_go_back_as_the_result() -> None:
    calls: list[Any] = []

    def record(city: str) -> str:
        """Record."""
        calls.append(city)
        return "ok"

    run = run_tools(with_test(toolArguments='{"city": 7}'), "", "record", tools=[record])
    assert calls == []
    assert run.messages[2]["content"].startswith("Error: invalid arguments: $.city: 7 is not")


def test_a_failing_tool_sends_its_error_text_not_its_traceback() -> None:
    def explode(city: str) -> str:
        """Explode."""
        secret_local = "hunter2"  # noqa: F841 - a local the traceback would show
        raise LookupError(f"no such city: {city}")

    run = run_tools(DOC, "", "explode", tools=[explode])
    content = run.messages[2]["content"]
    assert content.startswith("Error: LookupError: no such city:")
    assert "hunter2" not in content and "Traceback" not in content


def test_a_tool_past_its_timeout_is_reported_and_not_waited_for() -> None:
    release = threading.Event()

    def stuck(city: str) -> str:
        """Never answers in time."""
        release.wait(30)
        return "late"

    try:
        run = run_tools(DOC, "", "stuck", tools=[stuck], tool_timeout=0.05)
    finally:
        release.set()
    assert "did not finish within tool_timeout=0.05s" in run.messages[2]["content"]


def test_sync_tools_of_one_round_run_at_once() -> None:
    barrier = threading.Barrier(2, timeout=10)  # breaks unless both run together

    def left(city: str) -> str:
        """Left."""
        barrier.wait()
        return "L"

    def right(city: str) -> str:
        """Right."""
        barrier.wait()
        return "R"

    run = run_tools(DOC, "", "left and right", tools=[left, right])
    assert run.text == "Tool results: left: L; right: R"


def test_async_tools_of_one_round_run_concurrently_in_arun_tools() -> None:
    async def main() -> msl.ToolRun:
        both = asyncio.Barrier(2)

        async def north(city: str) -> str:
            """North."""
            await asyncio.wait_for(both.wait(), 10)
            return "N"

        async def south(city: str) -> str:
            """South."""
            await asyncio.wait_for(both.wait(), 10)
            return "S"

        return await arun_tools(DOC, "", "north and south", tools=[north, south])

    assert asyncio.run(main()).text == "Tool results: north: N; south: S"


def test_arun_tools_runs_sync_tools_and_times_out_async_ones() -> None:
    async def slow(city: str) -> str:
        """Slow."""
        await asyncio.sleep(30)
        return "late"

    async def main() -> msl.ToolRun:
        return await arun_tools(
            DOC, "", "get_weather and slow", tools=[get_weather, slow], tool_timeout=0.05
        )

    run = asyncio.run(main())
    assert '"temperature": 21' in run.messages[2]["content"]
    assert "tool_timeout=0.05s" in run.messages[3]["content"]


def test_cancelling_arun_tools_cancels_the_running_tools() -> None:
    cancelled = []

    async def main() -> None:
        started = asyncio.Event()

        async def wait_forever(city: str) -> str:
            """Waits."""
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.append(city)
                raise
            return "never"

        task = asyncio.create_task(arun_tools(DOC, "", "x", tools=[wait_forever]))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert len(cancelled) == 1


def test_more_rounds_than_max_rounds_raise_with_the_transcript() -> None:
    with pytest.raises(msl.ToolLoopError) as info:
        run_tools(DOC, "", "get_weather", tools=[get_weather], max_rounds=1)
    error = info.value
    assert error.rounds == 1 and "max_rounds=1" in str(error)
    # The calls of the last round ran: the transcript goes on as it is.
    assert [m["role"] for m in error.messages] == ["user", "assistant", "tool"]
    assert isinstance(error, msl.CompletionError)
    assert run_tools(DOC, "", messages=error.messages, tools=[get_weather]).rounds == 1


def test_a_forced_tool_choice_applies_to_the_first_round_only() -> None:
    run = run_tools(DOC, "", "x", tools=[get_weather, get_time], tool_choice="get_time")
    assert run.messages[1]["tool_calls"][0]["name"] == "get_time" and run.rounds == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tools": [WEATHER_DICT]}, "'get_weather' has no function"),
        ({"tools": [get_weather], "max_rounds": 0}, "max_rounds"),
        ({"tools": [get_weather], "tool_timeout": -1}, "tool_timeout"),
    ],
)
def test_run_tools_refuses_what_it_cannot_run(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(msl.ConfigurationError, match=message):
        run_tools(DOC, "", "x", **kwargs)


def test_a_tool_call_value_is_the_public_type() -> None:
    call = complete_with_model(DOC, "", "x", tools=[get_weather]).tool_calls[0]
    assert isinstance(call, ToolCall)
    assert call.to_dict() == {"id": call.id, "name": call.name, "arguments": call.arguments}


@pytest.mark.parametrize(
    ("library", "tool"), [("jsonschema", WEATHER_DICT), ("pydantic", get_weather)]
)
def test_a_missing_library_names_the_extra_to_install(
    library: str, tool: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, library, None)  # import fails as if not installed
    with pytest.raises(msl.ConfigurationError, match=r'pip install "metasync-llm\[tools\]"'):
        complete_with_model(DOC, "", "x", tools=[tool])
