"""Shared fixtures: isolation from installed plugins, the plugin_distributions.py ones, and
the batch tests' stand-in API server (`stand_in`)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from batch_server import StandIn
from hypothesis import settings
from plugin_distributions import DISTS, pip_install, write_project

from metasync_llm import PluginRegistry, SDKRegistry
from metasync_llm.registry import ALLOW_ENV

# Timing is for benchmarks: a per-example deadline only makes property tests flaky on a
# loaded 2-core machine.
settings.register_profile("metasync", deadline=None)
settings.load_profile("metasync")


@pytest.fixture(autouse=True, scope="session")
def _only_builtin_sdk() -> Iterator[None]:
    """Keep tests independent of whatever plugins the environment has installed."""
    patch = pytest.MonkeyPatch()
    patch.setenv(ALLOW_ENV, "test")
    SDKRegistry.refresh()
    yield
    patch.undo()
    SDKRegistry.refresh()


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with every distribution of plugin_distributions.py installed by pip."""
    projects = tmp_path_factory.mktemp("projects")
    site = tmp_path_factory.mktemp("site")
    pip_install([write_project(projects, dist) for dist in DISTS], site)
    return site


@pytest.fixture
def plugin_registry(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> PluginRegistry:
    """A registry that sees only those distributions, with no allow-list."""
    monkeypatch.syspath_prepend(str(plugin_site))
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    return PluginRegistry(path=[str(plugin_site)])


@pytest.fixture
def test_model() -> dict[str, object]:
    """A model document for the built-in test SDK, as a service stores it."""
    return {
        "_id": {"$oid": "65f0c0ffee"},
        "_metadata": {"createdBy": "someone"},
        "name": "rehearsal",
        "sdk": "test",
        "deployment": "test-model",
        "minTemperature": 0.2,
        "maxTemperature": 0.8,
        "maxToken": 8192,
        "cost": {"tokens": 1000, "currency": "USD", "input": 0.5, "output": 2.0},
    }


def _require_openai() -> None:
    if importlib.util.find_spec("metasync_llm_openai") is None:
        if os.environ.get("METASYNC_REQUIRE_PEERS") == "1":
            pytest.fail("metasync_llm_openai is not installed")
        pytest.skip("metasync_llm_openai is not installed")


@pytest.fixture
def stand_in(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StandIn]:
    _require_openai()
    monkeypatch.setenv("KEY_BATCH", "sk-batch-test-key")
    server = StandIn(tmp_path, *getattr(request, "param", ()))
    yield server
    server.close()
