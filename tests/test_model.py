"""Model-document validation: junk in, a ConfigurationError naming the field out."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metasync_llm import ConfigurationError, PluginRegistry, complete_with_model
from metasync_llm._keys import env_var_for, redact
from metasync_llm._model import parse_model
from metasync_llm._plugin_fields import endpoint_problem
from metasync_llm.connector import validate_model

junk = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.lists(st.integers(), max_size=3)
    | st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)
)
FIELDS = [
    "name",
    "sdk",
    "key",
    "deployment",
    "minTemperature",
    "maxTemperature",
    "maxToken",
    "maxCompletionToken",
    "cost",
    "test",
]


@given(st.dictionaries(st.sampled_from(FIELDS), junk), junk, junk, junk, junk)
def test_any_junk_ends_in_a_configuration_error_or_a_result(
    doc: dict[str, Any], system: Any, user: Any, temperature: Any, max_tokens: Any
) -> None:
    try:
        result = complete_with_model(doc, system, user, temperature, max_tokens)
    except ConfigurationError as exc:
        assert exc.fields, "a configuration error must name the field"
        assert str(exc)
    else:
        assert isinstance(result.text, str)


def test_extra_fields_are_ignored() -> None:
    settings = parse_model({"_id": 1, "_metadata": {}, "name": "n", "sdk": "s", "whatever": []})
    assert (settings.name, settings.sdk, settings.cost) == ("n", "s", None)


@pytest.mark.parametrize(
    ("ref", "var"), [("KEY-GPTEST", "KEY_GPTEST"), ("openai.key", "openai_key"), ("PLAIN", "PLAIN")]
)
def test_env_var_for(ref: str, var: str) -> None:
    assert env_var_for(ref) == var


def test_redact() -> None:
    assert redact("key sk-123456 leaked twice sk-123456", ["sk-123456"]) == (
        "key *** leaked twice ***"
    )
    assert redact("nothing", [None, ""]) == "nothing"


@pytest.mark.parametrize(
    ("endpoint", "ok"),
    [
        ("https://api.openai.com/v1", True),
        ("http://127.0.0.1:4010/v1", True),
        ("http://localhost:8080", True),
        ("http://[::1]:80", True),
        ("http://api.openai.com/v1", False),
        ("http://10.0.0.5", False),
        ("ftp://example.com", False),
        ("not a url", False),
        ("", False),
        (None, False),
    ],
)
def test_endpoint_rules(endpoint: Any, ok: bool) -> None:
    assert (endpoint_problem(endpoint) is None) is ok


ALL_SDKS = PluginRegistry(
    allow={"test", "OpenAI", "AzureOpenAI", "Anthropic", "ChatCompletionsClient"}
)
PLUGIN_FIELDS = [
    *FIELDS,
    "endpoint",
    "apiVersion",
    "messageFormat",
    "omitTemperature",
    "timeout",
    "connectTimeout",
    "retry",
    "extraBody",
]
nested = junk | st.dictionaries(
    st.sampled_from(
        [
            "attempts",
            "initialDelay",
            "maxDelay",
            "deadline",
            "jitter",
            "tokens",
            "input",
            "output",
            "currency",
            "error",
            "reply",
            "cutAfter",
        ]
    ),
    junk,
    max_size=4,
)
endpoints = (
    st.sampled_from(
        [
            "https://api.example.com/v1",
            "http://127.0.0.1:1",
            "http://x.io",
            "ftp://x",
            "",
            "not a url",
            "https://[::1",
        ]
    )
    | junk
)


@given(
    st.dictionaries(st.sampled_from(PLUGIN_FIELDS), nested),
    endpoints,
    st.sampled_from(["test", "OpenAI", "AzureOpenAI", "Anthropic", "ChatCompletionsClient"]),
)
def test_every_sdk_validates_junk_into_a_named_configuration_error(
    doc: dict[str, Any], endpoint: Any, sdk: str
) -> None:
    document = {"name": "fuzz", **doc, "sdk": sdk, "endpoint": endpoint}
    try:
        validate_model(document, registry=ALL_SDKS)
    except ConfigurationError as exc:
        assert exc.fields, f"no field named in: {exc}"


@pytest.mark.parametrize("size", [1, 10_000, 2_000_000])
def test_huge_and_unicode_prompts(size: int) -> None:
    prompt = ("żółw 🐢 \u202e مرحبا " * size)[: size * 3]
    model = {"name": "u", "sdk": "test", "deployment": "echo"}
    result = complete_with_model(model, "système ✓", prompt, max_tokens=10_000_000)
    assert result.text == prompt and result.prompt_tokens


# -- keys pasted in, fields misspelt -------------------------------------------------------

PASTED = "sk-proj-Q2xhdWRlQ2FuYXJ5S2V5LTEyMzQ1Njc4OTA"


@pytest.mark.parametrize(
    "pasted",
    [
        PASTED,
        "AIzaSyD-canary-key-0123456789abcdefghij",
        "tFj3K9qWx7Lm2Np8Rs5Tv1Yz4Bc6Dg0HkQ",  # random-looking, no prefix
        "eyJhbGciOi/JIUzI1NiJ9+payload=",  # characters no variable name has
    ],
)
def test_a_key_pasted_into_the_document_is_refused_unseen(pasted: str) -> None:
    document = {"name": "n", "sdk": "test", "deployment": "d", "key": pasted}
    with pytest.raises(ConfigurationError) as info:
        validate_model(document)
    assert info.value.fields == ("key",) and "environment variable" in str(info.value)
    assert pasted not in str(info.value) and pasted[:12] not in repr(info.value.args)


def test_key_references_stay_what_they_were() -> None:
    for reference in ("KEY-GPTEST", "OPENAI_API_KEY", "openai.key", "key-for-team-7"):
        assert parse_model({"name": "n", "sdk": "s", "key": reference}).key == reference


def test_the_validate_command_refuses_a_pasted_key_without_echoing_it(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from metasync_llm.cli import main

    path = tmp_path / "model.json"
    path.write_text(json.dumps({"name": "n", "sdk": "test", "deployment": "d", "key": PASTED}))
    for extra in ([], ["--json"]):
        assert main(["validate", str(path), *extra]) == 1
        out, err = capsys.readouterr()
        assert "looks like an API key" in out and PASTED not in out + err
    assert main(["complete", "--model", str(path), "hi", "--json"]) == 2
    out, err = capsys.readouterr()
    assert "looks like an API key" in out and PASTED not in out + err


def test_a_misspelt_field_is_refused_with_what_was_meant() -> None:
    document = {"name": "n", "sdk": "test", "deployment": "d", "maxTokens": 50, "Endpoint": "x"}
    with pytest.raises(ConfigurationError) as info:
        validate_model(document)
    assert set(info.value.fields) == {"maxTokens", "Endpoint"}
    assert "unknown field 'maxTokens': did you mean 'maxToken'?" in str(info.value)
    assert "did you mean 'endpoint'?" in str(info.value)
    # A service's own fields, and ones like no field of the contract, stay ignored.
    ours = {"_id": 1, "_metadata": {}, "owner": "team-a", "description": "x", "tags": []}
    validate_model({"name": "n", "sdk": "test", "deployment": "d", **ours})
