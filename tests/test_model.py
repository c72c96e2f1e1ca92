"""Model-document validation: junk in, a ConfigurationError naming the field out."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metasync_llm import ConfigurationError, complete_with_model
from metasync_llm.keys import env_var_for, redact
from metasync_llm.model import endpoint_problem, parse_model

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
