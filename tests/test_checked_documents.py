"""A model document is validated once, and again whenever it (or the registry) changes."""

from __future__ import annotations

import types
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from metasync_llm import ConfigurationError, PluginRegistry, complete_with_model, stream_with_model
from metasync_llm._call import lookup
from metasync_llm._documents import CheckedDocuments, checked
from metasync_llm.builtin_sdk import BuiltinTestSDK
from metasync_llm.model import parse_model

Doc = dict[str, Any]


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the documents the test SDK's validate_config saw, in order."""
    seen: list[str] = []
    original = BuiltinTestSDK.validate_config

    def counting(self: BuiltinTestSDK, config: Mapping[str, Any]) -> None:
        seen.append(str(config.get("name")))
        original(self, config)

    monkeypatch.setattr(BuiltinTestSDK, "validate_config", counting)
    checked.clear()
    yield seen
    checked.clear()


def test_the_same_document_is_validated_once(test_model: Doc, validations: list[str]) -> None:
    complete_with_model(test_model, "", "one")
    after_first = len(validations)
    for _ in range(5):
        complete_with_model(test_model, "", "again")
    with stream_with_model(test_model, "", "streamed") as stream:
        stream.until_done()
    # Each later call runs only the plugin's own check inside complete()/stream().
    assert after_first == 2
    assert len(validations) == after_first + 6


def test_a_change_to_the_document_is_validated(test_model: Doc, validations: list[str]) -> None:
    complete_with_model(test_model, "", "one")
    test_model["maxTemperature"] = "hot"
    with pytest.raises(ConfigurationError, match="maxTemperature"):
        complete_with_model(test_model, "", "two")


def test_a_change_inside_a_nested_block_is_validated(
    test_model: Doc, validations: list[str]
) -> None:
    complete_with_model(test_model, "", "one")
    test_model["cost"]["tokens"] = 0
    with pytest.raises(ConfigurationError, match="cost"):
        complete_with_model(test_model, "", "two")


def test_a_fixed_document_works_again(test_model: Doc, validations: list[str]) -> None:
    test_model["maxToken"] = -1
    with pytest.raises(ConfigurationError, match="maxToken"):
        complete_with_model(test_model, "", "one")
    test_model["maxToken"] = 100
    assert complete_with_model(test_model, "", "two").max_tokens == 100


def test_a_refreshed_registry_validates_again(test_model: Doc, validations: list[str]) -> None:
    registry = PluginRegistry()
    complete_with_model(test_model, "", "one", registry=registry)
    before = len(validations)
    complete_with_model(test_model, "", "two", registry=registry)
    assert len(validations) == before + 1  # the plugin's own check only
    registry.refresh()
    complete_with_model(test_model, "", "three", registry=registry)
    assert len(validations) == before + 3  # the connector's check is back


def test_other_mappings_and_non_json_values_are_validated_every_time(
    test_model: Doc, validations: list[str]
) -> None:
    frozen = types.MappingProxyType(dict(test_model))
    complete_with_model(frozen, "", "one")
    complete_with_model(frozen, "", "two")
    assert len(validations) == 4
    odd = {**test_model, "extra": object()}  # cannot be snapshotted: nothing remembered
    complete_with_model(odd, "", "one")
    complete_with_model(odd, "", "two")
    assert len(validations) == 8


def test_equal_documents_that_are_different_objects_are_each_validated(
    test_model: Doc, validations: list[str]
) -> None:
    complete_with_model(test_model, "", "one")
    complete_with_model(dict(test_model), "", "two")
    assert len(validations) == 4


def test_the_cache_is_bounded_and_forgets_the_oldest(test_model: Doc) -> None:
    documents = CheckedDocuments(limit=3)
    registry = PluginRegistry()
    docs = [{**test_model, "name": f"m{i}"} for i in range(5)]
    for doc in docs:
        settings = parse_model(doc)
        documents.remember(doc, registry, settings, lookup(registry, settings))
    assert len(documents) == 3
    unknown = [
        doc["name"]
        for doc in (docs[4], docs[3], docs[2], docs[0])
        if not documents.get(doc, registry)
    ]
    assert unknown == ["m0"]  # the three newest were remembered; m0 was forgotten


def test_a_remembered_document_is_unknown_once_changed_or_under_another_registry(
    test_model: Doc,
) -> None:
    documents = CheckedDocuments()
    registry = PluginRegistry()
    settings = parse_model(test_model)
    documents.remember(test_model, registry, settings, lookup(registry, settings))
    known = documents.get(test_model, registry)
    assert known is not None and known.settings is settings
    assert documents.get(test_model, PluginRegistry()) is None
    assert documents.get(dict(test_model), registry) is None
    test_model["retry"] = {"attempts": 2}
    assert documents.get(test_model, registry) is None
