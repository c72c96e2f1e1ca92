"""JSON repair never raises and never loses data."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metasync_llm._structured._json_output import looks_like_json, repair_json_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"a": 1}', '{"a": 1}'),
        ('```json\n{"a": 1}\n```', '{"a": 1}'),
        ('{"a": [1, 2', '{"a": [1, 2]}'),
        ("{a: 1,}", '{"a": 1}'),
        ("[1, 2,", "[1, 2]"),
    ],
)
def test_json_shaped_text_becomes_valid_json(raw: str, expected: str) -> None:
    text, _ = repair_json_text(raw)
    assert json.loads(text) == json.loads(expected)


@pytest.mark.parametrize(
    "raw",
    ["hello", "", "   ", 'Sure! {"a": 1}', '{"a": 1} and then some prose', "42", '"str"'],
)
def test_other_text_comes_back_unchanged(raw: str) -> None:
    assert repair_json_text(raw) == (raw, False)


def test_valid_json_is_not_reported_as_repaired() -> None:
    assert repair_json_text('  {"a": 1}\n') == ('  {"a": 1}\n', False)


@given(st.text())
def test_repair_never_raises_and_keeps_non_json_text(raw: str) -> None:
    text, changed = repair_json_text(raw)
    assert isinstance(text, str)
    if not looks_like_json(raw):
        assert (text, changed) == (raw, False)
    if changed:
        json.loads(text)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=20,
    ).filter(lambda v: isinstance(v, (dict, list))),
    st.integers(min_value=1, max_value=200),
)
def test_cut_json_repairs_into_json_or_stays_raw(value: object, cut: int) -> None:
    raw = json.dumps(value)[:cut]
    text, changed = repair_json_text(raw)
    if changed:
        assert isinstance(json.loads(text), type(value))
    else:
        assert text == raw
