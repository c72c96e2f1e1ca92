"""Prepared models: a document checked once and kept; plain dicts are checked on every call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import metasync_llm as msl
from metasync_llm import (
    PluginRegistry,
    PreparedModel,
    acomplete_with_model,
    astream_with_model,
    complete_with_model,
    prepare_model,
    stream_with_model,
)
from metasync_llm.connector import validate_model

Doc = dict[str, Any]


def _echo(**extra: Any) -> Doc:
    return {"name": "echo", "sdk": "test", "deployment": "echo", "maxToken": 50, **extra}


def test_a_prepared_model_answers_like_its_document() -> None:
    doc = _echo(cost={"tokens": 1000, "input": 1, "output": 2})
    prepared = prepare_model(doc)
    assert isinstance(prepared, PreparedModel)
    assert (prepared.name, prepared.sdk, prepared.settings.max_token) == ("echo", "test", 50)
    via_dict = complete_with_model(doc, "s", "hello there", max_tokens=500)
    via_prepared = complete_with_model(prepared, "s", "hello there", max_tokens=500)
    assert via_prepared.text == via_dict.text == "hello there"
    assert via_prepared.usage == via_dict.usage and via_prepared.cost == via_dict.cost
    assert via_prepared.max_tokens == 50


def test_every_entry_point_takes_a_prepared_model() -> None:
    prepared = prepare_model(_echo())
    with stream_with_model(prepared, "", "a b") as stream:
        assert "".join(stream) == "a b"

    async def run() -> tuple[str, str]:
        done = await acomplete_with_model(prepared, "", "c d")
        async with astream_with_model(prepared, "", "e f") as astream:
            streamed = await astream.until_done()
        return done.text, streamed.text

    assert asyncio.run(run()) == ("c d", "e f")


def test_a_prepared_model_keeps_the_document_it_was_prepared_from() -> None:
    doc = _echo(test={"reply": "before"})
    prepared = prepare_model(doc)
    doc["test"]["reply"] = "after"
    doc["sdk"] = "NoSuchSDK"
    assert complete_with_model(prepared, "", "x").text == "before"
    with pytest.raises(TypeError):
        prepared.document["sdk"] = "changed"  # type: ignore[index]


def test_a_plain_document_is_checked_on_every_call() -> None:
    doc = _echo()
    assert complete_with_model(doc, "", "x").text == "x"
    doc["test"] = {"error": "gremlins"}
    with pytest.raises(msl.ConfigurationError) as info:
        complete_with_model(doc, "", "x")
    assert info.value.fields == ("test.error",)
    doc["test"] = {"reply": "fixed"}
    assert complete_with_model(doc, "", "x").text == "fixed"


def test_preparing_a_bad_document_raises_what_a_call_would() -> None:
    with pytest.raises(msl.ConfigurationError) as info:
        prepare_model({"name": "m", "sdk": "test", "maxToken": -1})
    assert info.value.fields == ("maxToken",)
    with pytest.raises(msl.SDKNotFoundError):
        prepare_model({"name": "m", "sdk": "NoSuchSDK"})
    assert validate_model(_echo()).name == "echo"


def test_a_refreshed_registry_prepares_the_model_again() -> None:
    registry = PluginRegistry(allow={"test"})
    prepared = prepare_model(_echo(), registry=registry)
    first = registry.get_sdk("test")
    registry.refresh()
    assert registry.get_sdk("test") is not first
    assert complete_with_model(prepared, "", "still works", registry=registry).text == (
        "still works"
    )
    again = msl.prepare_model(prepared, registry=registry)
    assert again is not prepared and again.loaded.sdk is registry.get_sdk("test")
    assert msl.prepare_model(again, registry=registry) is again
