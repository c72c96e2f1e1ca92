"""The value types: frozen dataclasses that unpack like the seed's tuple, pickle, hold no key."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from metasync_llm import Completion, CompletionResult, Cost, Request, RetryPolicy, StreamEnd
from metasync_llm._model import CostRates, ModelSettings, parse_model


def _result() -> CompletionResult:
    return CompletionResult(
        "hi", 1, 2, 3, 0.5, "test", "m", Cost("USD", 0.1, 0.2, 0.3), False, "hi", "stop"
    )


@pytest.mark.parametrize(
    "value",
    [
        Completion("t", 1, 2, 3, "stop", "req"),
        StreamEnd(1, 2, 3, "stop", "req"),
        _result(),
        Cost("EUR", 1.0, 2.0, 3.0),
        RetryPolicy(attempts=5),
        CostRates(1000, 1.0, 2.0, "USD"),
        parse_model({"name": "m", "sdk": "test", "cost": {"tokens": 1, "input": 1, "output": 2}}),
    ],
)
def test_value_types_are_frozen_and_survive_pickle_and_copy(value: object) -> None:
    assert dataclasses.is_dataclass(value)
    field = dataclasses.fields(value)[0].name  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)
    assert pickle.loads(pickle.dumps(value)) == value
    assert copy.deepcopy(value) == value
    assert not hasattr(value, "__dict__"), "slotted: no per-instance dict"


def test_results_unpack_like_the_seed_tuple_and_convert_to_dicts() -> None:
    result = _result()
    text, prompt, completion, total = result
    assert (text, prompt, completion, total) == ("hi", 1, 2, 3) == tuple(result)
    assert result[0] == "hi" and len(result) == 4
    assert result.usage == (1, 2, 3)
    data = result.to_dict()
    assert data["cost"] == {"currency": "USD", "input": 0.1, "output": 0.2, "total": 0.3}
    assert data["finish_reason"] == "stop" and data["attempts"] == 1
    assert dataclasses.replace(result, text="x").text == "x" and result.text == "hi"


def test_a_request_never_shows_its_key() -> None:
    request = Request({"name": "m"}, "sys", "user", 0.5, 10, "sk-secret-key-123")
    assert "sk-secret-key-123" not in repr(request)
    assert request.api_key == "sk-secret-key-123" and request.model_name == "m"
    assert request.stream is True


def test_model_settings_clamp_the_temperature() -> None:
    settings: ModelSettings = parse_model(
        {"name": "m", "sdk": "test", "minTemperature": 0.2, "maxTemperature": 0.8}
    )
    assert [settings.clamp_temperature(t) for t in (0, 0.5, 2)] == [0.2, 0.5, 0.8]
