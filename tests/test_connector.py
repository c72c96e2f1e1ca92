"""complete_with_model: validation, clamping, keys, timing, cost, JSON repair, error mapping."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm import (
    CompletionResult,
    ConfigurationError,
    MissingAPIKeyError,
    PluginRegistry,
    SDKNotFoundError,
    complete_with_model,
)
from metasync_llm._plugins._builtin import SIMULATED_ERRORS, count_tokens

Doc = dict[str, Any]


def with_test_options(model: Doc, **options: Any) -> Doc:
    return {**model, "test": options}


def test_result_unpacks_as_the_seed_tuple(test_model: Doc) -> None:
    result = complete_with_model(test_model, "Be terse.", "What is 2+2?")
    text, prompt, completion, total = result
    assert isinstance(result, CompletionResult)
    assert json.loads(text)["user_content"] == "What is 2+2?"
    assert prompt == count_tokens("Be terse.") + count_tokens("What is 2+2?")
    assert completion == count_tokens(text)
    assert total == prompt + completion
    assert (result[0], len(result)) == (text, 4)
    assert result.sdk == "test" and result.model == "rehearsal"
    assert result.elapsed >= 0
    assert result.raw_text == text and not result.json_repaired
    assert result.finish_reason == "stop" and not result.truncated


def test_cost_is_computed_from_the_cost_block(test_model: Doc) -> None:
    result = complete_with_model(test_model, "", "one two three")
    assert result.cost is not None
    assert result.cost.currency == "USD"
    assert result.cost.input == pytest.approx(result.prompt_tokens / 1000 * 0.5)
    assert result.cost.output == pytest.approx(result.completion_tokens / 1000 * 2.0)
    assert result.cost.total == pytest.approx(result.cost.input + result.cost.output)


def test_no_cost_block_means_no_cost(test_model: Doc) -> None:
    del test_model["cost"]
    assert complete_with_model(test_model, "", "hi").cost is None


def test_unreported_usage_is_none_not_zero(test_model: Doc) -> None:
    result = complete_with_model(with_test_options(test_model, omitUsage=True), "", "hi")
    assert result.usage == (None, None, None)
    assert result.cost is not None
    assert (result.cost.input, result.cost.output, result.cost.total) == (None, None, None)


@pytest.mark.parametrize(("asked", "sent"), [(0.0, 0.2), (0.5, 0.5), (1.7, 0.8)])
def test_temperature_is_clamped(test_model: Doc, asked: float, sent: float) -> None:
    result = complete_with_model(test_model, "", "hi", temperature=asked)
    assert result.temperature == sent
    assert json.loads(result.text)["temperature"] == sent


def test_max_tokens_default_and_cap(test_model: Doc) -> None:
    assert complete_with_model(test_model, "", "x").max_tokens == 4096
    test_model["maxToken"] = 100
    assert complete_with_model(test_model, "", "x", max_tokens=500).max_tokens == 100


def test_truncated_answer_is_flagged_and_kept(test_model: Doc) -> None:
    model = with_test_options(test_model, reply="one two three four five six")
    result = complete_with_model(model, "", "hi", max_tokens=3)
    assert result.text == "one two three"
    assert result.truncated and result.finish_reason == "length"


def test_truncated_json_is_not_repaired_into_a_complete_looking_answer(test_model: Doc) -> None:
    model = with_test_options(test_model, reply='{"items": ["a", "b", "c", "d"]}')
    with pytest.raises(msl.TruncatedResponseError) as info:
        complete_with_model(model, "", "hi", max_tokens=10, repair_json=True)
    err = info.value
    assert isinstance(err, RuntimeError)
    assert err.result is not None
    assert err.result.raw_text == '{"items": ["a",'
    assert err.result.text == err.result.raw_text and not err.result.json_repaired
    assert "max_tokens=10" in str(err)


def test_broken_json_is_repaired_and_raw_text_kept(test_model: Doc) -> None:
    raw = '```json\n{"answer": 42, "tags": ["a", "b",]}\n```'
    result = complete_with_model(
        with_test_options(test_model, reply=raw), "", "q", repair_json=True
    )
    assert json.loads(result.text) == {"answer": 42, "tags": ["a", "b"]}
    assert result.json_repaired and result.raw_text == raw


def test_prose_is_never_repaired(test_model: Doc) -> None:
    raw = "I cannot answer that in JSON, sorry."
    result = complete_with_model(
        with_test_options(test_model, reply=raw), "", "q", repair_json=True
    )
    assert result.text == raw and not result.json_repaired


def test_the_test_sdk_needs_no_key(test_model: Doc, monkeypatch: pytest.MonkeyPatch) -> None:
    test_model["key"] = "KEY-NOT-SET-ANYWHERE"
    monkeypatch.delenv("KEY_NOT_SET_ANYWHERE", raising=False)
    assert complete_with_model(test_model, "", "hi").text


def _good_doc(**extra: Any) -> Doc:
    return {"name": "good-model", "sdk": "Good", "deployment": "d", **extra}


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def test_key_comes_from_the_environment_variable_the_document_names(
    plugin_registry: PluginRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEY_GPTEST", "sk-env-secret")
    result = complete_with_model(_good_doc(key="KEY-GPTEST"), "", "hi", registry=plugin_registry)
    assert result.text == f"hi|key:{_digest('sk-env-secret')}"
    assert result.request_id == "req-good"


def test_missing_key_fails_before_the_call_naming_the_variable(
    plugin_registry: PluginRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEY_GPTEST", raising=False)
    with pytest.raises(MissingAPIKeyError) as info:
        complete_with_model(_good_doc(key="KEY-GPTEST"), "", "hi", registry=plugin_registry)
    assert info.value.env_var == "KEY_GPTEST"
    assert "KEY_GPTEST" in str(info.value) and isinstance(info.value, ValueError)
    with pytest.raises(MissingAPIKeyError, match="no 'key' field"):
        complete_with_model(_good_doc(), "", "hi", registry=plugin_registry)


def test_key_can_be_passed_or_resolved(plugin_registry: PluginRegistry) -> None:
    doc = _good_doc(key="KEY-UNUSED")
    passed = complete_with_model(doc, "", "a", api_key="sk-passed", registry=plugin_registry)
    assert passed.text.endswith(_digest("sk-passed"))
    seen: list[Any] = []

    def resolver(model: Any) -> str:
        seen.append(model)
        return "sk-vault-key"

    resolved = complete_with_model(doc, "", "a", key_resolver=resolver, registry=plugin_registry)
    assert resolved.text.endswith(_digest("sk-vault-key"))
    assert seen == [doc]
    with pytest.raises(MissingAPIKeyError, match="key_resolver returned None"):
        complete_with_model(doc, "", "a", key_resolver=lambda m: None, registry=plugin_registry)


def test_malformed_plugin_result_names_plugin_and_distribution(
    plugin_registry: PluginRegistry,
) -> None:
    doc = {"name": "m", "sdk": "Malformed", "deployment": "d"}
    with pytest.raises(msl.PluginError) as info:
        complete_with_model(doc, "", "hi", api_key="k" * 8, registry=plugin_registry)
    message = str(info.value)
    assert "Malformed" in message and "msl-malformed 1.0" in message
    assert "prompt_tokens is '12'" in message
    assert info.value.distribution == "msl-malformed"
    assert isinstance(info.value, RuntimeError)


def test_sdk_exception_is_mapped_and_the_key_scrubbed(plugin_registry: PluginRegistry) -> None:
    key = "sk-canary-0123456789"
    doc = {"name": "r", "sdk": "Raises", "deployment": "d"}
    with pytest.raises(msl.RateLimitError) as info:
        complete_with_model(doc, "", "hi", api_key=key, registry=plugin_registry)
    err = info.value
    assert (err.status, err.request_id, err.sdk, err.model) == (429, "req-raises", "Raises", "r")
    assert err.__cause__ is not None and err.__cause__.kind.endswith(".ProviderRateLimit")  # type: ignore[attr-defined]
    for text in (str(err), repr(err), str(err.__cause__), repr(err.__cause__)):
        assert key not in text
    assert "***" in str(err)


@pytest.mark.parametrize("kind", sorted(SIMULATED_ERRORS))
def test_rehearsed_failures_raise_the_matching_error(test_model: Doc, kind: str) -> None:
    model = {**with_test_options(test_model, error=kind, retryAfter=7), "retry": {"attempts": 1}}
    with pytest.raises(msl.CompletionError) as info:
        complete_with_model(model, "", "hi")
    err = info.value
    assert isinstance(err, RuntimeError)
    assert (err.sdk, err.model) == ("test", "rehearsal")
    expected = {
        "rate_limit": msl.RateLimitError,
        "authentication": msl.AuthenticationError,
        "permission": msl.PermissionDeniedError,
        "not_found": msl.NotFoundError,
        "bad_request": msl.BadRequestError,
        "context_window": msl.ContextWindowExceededError,
        "content_filter": msl.ContentFilterError,
        "server": msl.ServerError,
        "timeout": msl.APITimeoutError,
        "connection": msl.APIConnectionError,
        "empty": msl.EmptyResponseError,
    }[kind]
    assert type(err) is expected
    if kind == "rate_limit":
        assert isinstance(err, msl.RateLimitError) and err.retry_after == 7


def test_unknown_sdk_names_the_model_and_lists_available(test_model: Doc) -> None:
    test_model["sdk"] = "NoSuchSDK"
    with pytest.raises(SDKNotFoundError) as info:
        complete_with_model(test_model, "", "hi")
    assert "model 'rehearsal'" in str(info.value) and "Available SDKs: test" in str(info.value)
    assert info.value.fields == ("sdk",)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"sdk": None}, "sdk"),
        ({"minTemperature": "low"}, "minTemperature"),
        ({"minTemperature": 1.5}, "minTemperature"),
        ({"maxTemperature": float("nan")}, "maxTemperature"),
        ({"maxToken": -1}, "maxToken"),
        ({"maxToken": True}, "maxToken"),
        ({"maxCompletionToken": "yes"}, "maxCompletionToken"),
        ({"cost": {"tokens": 0, "input": 1, "output": 1}}, "cost.tokens"),
        ({"cost": {"tokens": 1000, "input": -1, "output": 1}}, "cost.input"),
        ({"cost": "cheap"}, "cost"),
        ({"key": 42}, "key"),
        ({"deployment": ""}, "deployment"),
        ({"test": {"error": "gremlins"}}, "test.error"),
    ],
)
def test_invalid_document_names_the_field(test_model: Doc, change: Doc, field: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        complete_with_model({**test_model, **change}, "", "hi")
    assert field in info.value.fields
    assert field.rsplit(".", maxsplit=1)[-1] in str(info.value)


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(ConfigurationError) as info:
        complete_with_model({"sdk": 3, "maxToken": 0}, "", "hi")
    assert set(info.value.fields) == {"name", "sdk", "maxToken"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"system_prompt": 5}, "system_prompt"),
        ({"user_content": ["a"]}, "user_content"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": float("inf")}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 2.5}, "max_tokens"),
        ({"api_key": ""}, "api_key"),
    ],
)
def test_invalid_arguments_name_the_argument(
    test_model: Doc, kwargs: dict[str, Any], field: str
) -> None:
    args = {"system_prompt": "", "user_content": "hi", **kwargs}
    with pytest.raises(ConfigurationError) as info:
        complete_with_model(test_model, **args)
    assert info.value.fields == (field,)


def test_model_must_be_a_mapping() -> None:
    with pytest.raises(ConfigurationError, match="must be a JSON object"):
        complete_with_model(["not", "a", "dict"], "", "hi")  # type: ignore[arg-type]


def test_library_prints_nothing(test_model: Doc, capsys: pytest.CaptureFixture[str]) -> None:
    complete_with_model(test_model, "", "hi")
    with pytest.raises(msl.ServerError):
        complete_with_model(with_test_options(test_model, error="server"), "", "hi")
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ([5, 1, 1, 2], "response_text is int, not str"),
        (["t", True, 1, 2], "prompt_tokens is True"),
        (["t", 1, -1, 0], "completion_tokens is -1"),
        (["t", 1, 1, 2.0], "total_tokens is 2.0"),
        (["t", 1, 1, 2, 3], "finish_reason is 3"),
    ],
)
def test_each_malformed_answer_field_is_named(
    plugin_registry: PluginRegistry, answer: list[object], problem: str
) -> None:
    doc = {"name": "m", "sdk": "Scripted", "deployment": "d", "answer": answer}
    with pytest.raises(msl.PluginError, match="malformed result") as info:
        complete_with_model(doc, "", "hi", registry=plugin_registry)
    assert problem in str(info.value)
    assert "msl-scripted 1.0" in str(info.value)


def test_a_well_formed_answer_gets_its_total_and_an_empty_one_says_why(
    plugin_registry: PluginRegistry,
) -> None:
    def answer(*values: object) -> msl.CompletionResult:
        doc = {"name": "m", "sdk": "Scripted", "deployment": "d", "answer": list(values)}
        return complete_with_model(doc, "", "hi", registry=plugin_registry)

    assert answer("t", 2, 3, None).total_tokens == 5
    assert answer("t", 2, None, None).total_tokens is None
    with pytest.raises(msl.EmptyResponseError):
        answer("", 2, 0, 2)
