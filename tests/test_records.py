"""The value types (results, policies, discovery records) behave like frozen dataclasses."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle

import pytest

from metasync_llm import Completion, CompletionResult, Cost, RetryPolicy, StreamEnd
from metasync_llm._record import Record
from metasync_llm.model import CostRates, ModelSettings, parse_model
from metasync_llm.registry import Discovery, LoadedSDK, PluginInfo, PluginLoadFailure


def _records() -> list[type[Record]]:
    found: list[type[Record]] = []
    todo = [Record]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("metasync_llm") and sub._fields:
                found.append(sub)
    return found


def _result(**changes: object) -> CompletionResult:
    values: dict[str, object] = {
        "text": "hi",
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "total_tokens": 3,
        "elapsed": 0.5,
        "sdk": "test",
        "model": "m",
        "cost": Cost("USD", 0.1, 0.2, 0.3),
        "json_repaired": False,
        "raw_text": "hi",
    }
    return CompletionResult(**(values | changes))  # type: ignore[arg-type]


def test_every_record_takes_its_fields_in_order() -> None:
    # Record derives the fields from __slots__; __init__ must take the same, in order,
    # or copy/pickle (which rebuild through __init__) would mix values up.
    records = _records()
    expected = {Completion, StreamEnd, Cost, CompletionResult, RetryPolicy, PluginInfo}
    assert expected | {PluginLoadFailure, LoadedSDK, Discovery, CostRates, ModelSettings} <= set(
        records
    )
    for cls in records:
        params = list(inspect.signature(cls).parameters)
        assert params == list(cls._fields), cls


def test_frozen_like_a_dataclass() -> None:
    result = _result()
    with pytest.raises(dataclasses.FrozenInstanceError, match="'text'"):
        result.text = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del result.text
    with pytest.raises(AttributeError):
        result.extra = 1  # type: ignore[attr-defined]
    assert result.text == "hi"


def test_dataclass_functions_work() -> None:
    policy = RetryPolicy()
    assert dataclasses.is_dataclass(policy) and dataclasses.is_dataclass(RetryPolicy)
    assert [f.name for f in dataclasses.fields(RetryPolicy)] == [
        "attempts",
        "initial_delay",
        "max_delay",
        "deadline",
        "jitter",
    ]
    changed = dataclasses.replace(policy, attempts=5)
    assert changed == RetryPolicy(attempts=5) and policy.attempts == 3
    data = dataclasses.asdict(_result())
    assert data["cost"] == {"currency": "USD", "input": 0.1, "output": 0.2, "total": 0.3}
    assert data == _result().to_dict()
    with pytest.raises(TypeError):
        dataclasses.replace(policy, nope=1)


def test_replace_copies_with_changes_and_rejects_unknown_fields() -> None:
    result = _result()
    repaired = result._replace(text="{}", json_repaired=True)
    assert (repaired.text, repaired.json_repaired) == ("{}", True)
    assert (result.text, result.json_repaired) == ("hi", False)
    assert repaired == dataclasses.replace(result, text="{}", json_repaired=True)
    with pytest.raises(TypeError, match="no field 'txt'"):
        result._replace(txt="typo")


def test_repr_equality_hash_and_match() -> None:
    end = StreamEnd(1, 2, 3, "stop")
    assert repr(end) == (
        "StreamEnd(prompt_tokens=1, completion_tokens=2, total_tokens=3,"
        " finish_reason='stop', request_id=None)"
    )
    assert end == StreamEnd(1, 2, 3, "stop") and hash(end) == hash(StreamEnd(1, 2, 3, "stop"))
    assert end != StreamEnd(1, 2, 3, "length")
    assert Completion("a") != ("a", None, None, None)  # equal values, different types
    match Completion("x", 1, 2, 3):
        case Completion(text, p, c, t):
            assert (text, p, c, t) == ("x", 1, 2, 3)
    assert tuple(Completion("x", 1, 2, 3)) == ("x", 1, 2, 3)


def test_copy_and_pickle_round_trip() -> None:
    for value in (
        _result(finish_reason="length", attempts=2),
        RetryPolicy(attempts=2, jitter=False),
        parse_model(
            {"name": "m", "sdk": "test", "cost": {"tokens": 1000, "input": 1, "output": 2}}
        ),
    ):
        assert copy.copy(value) == value
        assert copy.deepcopy(value) == value
        assert pickle.loads(pickle.dumps(value)) == value


def test_private_slots_are_caches_not_fields() -> None:
    """Discovery's plugin manager (built on first use) is in no repr, comparison or copy."""
    found = Discovery({}, (), (), None, ("x",))
    assert Discovery._fields == ("sdks", "failures", "disabled", "allow", "path")
    assert found.plugin_manager is found.plugin_manager  # built once
    assert "_plugin_manager" not in repr(found) and "path=('x',)" in repr(found)
    assert found == Discovery({}, (), (), None, ("x",))
    assert pickle.loads(pickle.dumps(found)) == found
