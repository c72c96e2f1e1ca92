"""Schemas that cannot reach out or run without bound: remote ``$ref``s, ``$ref`` cycles,
backtracking patterns; through ``complete_with_model`` and batch lines."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm.batch import run_batch
from metasync_llm.testing import LoopbackServer, Reply

EXAMPLE = {"name": "shaped", "sdk": "test", "deployment": "json"}


def _answering(text: str) -> dict[str, Any]:
    return {"name": "fixed", "sdk": "test", "deployment": "x", "test": {"reply": text}}


def test_a_remote_ref_is_refused_before_any_call_and_never_fetched() -> None:
    schema_file = Reply.json({"type": "string"})
    stalling = Reply(schema_file.status, schema_file.body, schema_file.headers, delay=30)
    with LoopbackServer(default=stalling) as server:
        for ref in (f"{server.url}/schema.json", f"{server.url}/s.json#/$defs/x"):
            schema = {"type": "object", "properties": {"a": {"$ref": ref}}}
            started = time.monotonic()
            with pytest.raises(msl.ConfigurationError) as info:
                msl.complete_with_model(EXAMPLE, "", "hi", schema=schema)
            assert time.monotonic() - started < 5
            assert info.value.fields == ("schema",)
            assert "does not resolve within the schema" in str(info.value)
            assert "never fetched" in str(info.value)
        assert server.requests == []


def test_local_refs_ids_and_recursive_schemas_still_work() -> None:
    tree = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            }
        },
        "$ref": "#/$defs/node",
    }
    assert "kids" in msl.complete_with_model(EXAMPLE, "", "a tree", schema=tree).data
    embedded = {
        "$id": "https://example.com/root.json",
        "type": "object",
        "properties": {"p": {"$ref": "point.json"}},
        "$defs": {"point": {"$id": "point.json", "type": "object"}},
        "examples": [{"$ref": "data, not a reference"}],
    }
    answer = msl.complete_with_model(_answering('{"p": {}}'), "", "x", schema=embedded)
    assert answer.data == {"p": {}}


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {
            "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}},
            "$ref": "#/$defs/a",
        },
    ],
)
def test_a_ref_cycle_that_never_descends_is_a_configuration_error(schema: Any) -> None:
    with pytest.raises(msl.ConfigurationError, match="refers to itself without end"):
        msl.complete_with_model(EXAMPLE, "", "hi", schema=schema)


def test_a_backtracking_pattern_is_checked_within_a_bound() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a|aa)+$"}}}
    evil = json.dumps({"a": "a" * 60 + "!"})  # with re: hours
    started = time.monotonic()
    with pytest.raises(msl.SchemaValidationError) as info:
        msl.complete_with_model({**_answering(evil), "schemaRetries": 0}, "", "x", schema=schema)
    assert time.monotonic() - started < 5
    assert "could not be checked against '^(a|aa)+$' within 0.5s" in str(info.value)
    keys = {"type": "object", "patternProperties": {"^(a|aa)+$": {"type": "integer"}}}
    with pytest.raises(msl.SchemaValidationError, match="property 'aaaa"):
        msl.complete_with_model(
            {**_answering(json.dumps({"a" * 60 + "!": 1})), "schemaRetries": 0},
            "",
            "x",
            schema=keys,
        )
    # The pattern still says yes and no as before.
    ok = msl.complete_with_model(_answering('{"a": "aaa"}'), "", "x", schema=schema)
    assert ok.data == {"a": "aaa"}
    with pytest.raises(msl.SchemaValidationError, match="'b' does not match"):
        msl.complete_with_model(
            {**_answering('{"a": "b"}'), "schemaRetries": 0}, "", "x", schema=schema
        )


def test_batch_lines_with_such_schemas_are_error_rows(tmp_path: Path) -> None:
    got: list[dict[str, Any]] = []
    summary = run_batch(
        [
            {"id": 1, "user": "x", "schema": {"$ref": "http://127.0.0.1:9/s.json"}},
            {"id": 2, "user": "x", "schema": {"$ref": "#"}},
            {"id": 3, "user": "x", "schema": {"type": "object"}},
        ],
        [EXAMPLE],
        on_result=got.append,
    )
    assert summary.rows == 3
    by_id = {row["id"]: row for row in got}
    assert by_id[1]["error"]["type"] == by_id[2]["error"]["type"] == "ConfigurationError"
    assert by_id[3]["error"] is None
