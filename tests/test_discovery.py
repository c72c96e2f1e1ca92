"""Discovery through entry points: broken plugins are recorded, never fatal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from plugin_distributions import BROKEN, LOADABLE, Dist, pip_install, sdk_module, write_project

from metasync_llm import PluginRegistry, SDKNotFoundError, SDKRegistry
from metasync_llm.registry import ALLOW_ENV, Discovery


def test_loadable_plugins_load_beside_broken_ones(plugin_registry: PluginRegistry) -> None:
    assert plugin_registry.list_sdks() == sorted(LOADABLE)
    good = plugin_registry.get_sdk("Good")
    assert good.get_name() == "Good"
    assert set(plugin_registry.get_all_sdks()) == set(LOADABLE)
    info = {i.name: i for i in plugin_registry.plugins()}["Good"]
    assert (info.distribution, info.version, info.target) == (
        "msl-good",
        "2.3.4",
        "msl_good:GoodSDK",
    )


@pytest.mark.parametrize(("name", "kind"), sorted(BROKEN.items()))
def test_each_broken_plugin_is_recorded(
    plugin_registry: PluginRegistry, name: str, kind: str
) -> None:
    failures = [f for f in plugin_registry.load_failures() if f.plugin.name == name]
    assert failures, f"{name} not recorded"
    assert {f.kind for f in failures} == {kind}
    for failure in failures:
        assert failure.plugin.distribution and failure.plugin.distribution.startswith("msl-")
        assert failure.plugin.version
        assert failure.plugin.distribution in str(failure)


def test_failure_reasons_say_what_is_wrong(plugin_registry: PluginRegistry) -> None:
    reasons = {f.plugin.name: f.reason for f in plugin_registry.load_failures()}
    assert "msl_module_that_does_not_exist" in reasons["ImportFail"]
    assert "get_name exploded" in reasons["GetNameFail"]
    assert "'Actual'" in reasons["Declared"] and "'Declared'" in reasons["Declared"]
    assert "msl-dup-a 1.0" in reasons["Dup"] and "msl-dup-b 0.9" in reasons["Dup"]
    assert "BaseLLMSDK" in reasons["NotPlugin"]
    assert "complete" in reasons["Abstract"]
    assert "complete" in reasons["BadSig"] and "'prompt'" in reasons["BadSig"]
    assert "'api_key'" in reasons["BadSig"]


def test_duplicate_name_is_refused_for_both_distributions(
    plugin_registry: PluginRegistry,
) -> None:
    dups = [f for f in plugin_registry.load_failures() if f.plugin.name == "Dup"]
    assert sorted(f.plugin.distribution for f in dups) == ["msl-dup-a", "msl-dup-b"]
    assert "Dup" not in plugin_registry.list_sdks()


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_get_sdk_of_broken_plugin_explains(plugin_registry: PluginRegistry, name: str) -> None:
    with pytest.raises(SDKNotFoundError) as info:
        plugin_registry.get_sdk(name)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.available == tuple(sorted(LOADABLE))
    assert err.load_error
    assert "Available SDKs: Good, Malformed, Raiser, Raises, Scripted" in str(err)
    assert "failed to load" in str(err)


def test_get_sdk_of_unknown_name_lists_available(plugin_registry: PluginRegistry) -> None:
    with pytest.raises(SDKNotFoundError, match=r"no SDK named 'Nope'.*Available SDKs: Good"):
        plugin_registry.get_sdk("Nope")
    with pytest.raises(SDKNotFoundError, match="did you mean 'Good'"):
        plugin_registry.get_sdk("good")


def test_allow_list_restricts_loading(
    plugin_registry: PluginRegistry, plugin_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_ENV, "Good, ImportFail")
    registry = PluginRegistry(path=[str(plugin_site)])
    assert registry.list_sdks() == ["Good"]
    found = registry.discovery()
    assert {f.plugin.name for f in found.failures} == {"ImportFail", "Dup"}
    assert "Malformed" in {i.name for i in found.disabled}
    with pytest.raises(SDKNotFoundError, match="not in the allow-list METASYNC_LLM_SDKS"):
        registry.get_sdk("Malformed")


def test_explicit_allow_overrides_environment(plugin_site: Path) -> None:
    registry = PluginRegistry(path=[str(plugin_site)], allow={"Raises"})
    assert registry.list_sdks() == ["Raises"]


def test_discovery_runs_once_and_is_shared_across_threads(
    plugin_registry: PluginRegistry,
) -> None:
    results: list[Discovery] = []
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        results.append(plugin_registry.discovery())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16
    assert len({id(r) for r in results}) == 1
    assert plugin_registry.discovery() is results[0]


def test_refresh_sees_a_plugin_installed_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    registry = PluginRegistry(path=[str(site)])
    assert registry.list_sdks() == []
    late = Dist("msl-late", "msl_late", sdk_module("SDK", "Late"), {"Late": "msl_late:SDK"})
    pip_install([write_project(tmp_path, late)], site)
    assert registry.list_sdks() == [], "discovery must be cached until refreshed"
    registry.refresh()
    assert registry.list_sdks() == ["Late"]


def test_default_registry_has_the_builtin_test_sdk() -> None:
    assert "test" in SDKRegistry.list_sdks()
    info = {i.name: i for i in SDKRegistry.plugins()}["test"]
    assert info.distribution == "metasync-llm"


def test_seed_import_paths() -> None:
    from metasync_llm.base_sdk import BaseLLMSDK
    from metasync_llm.registry import SDKRegistry as FromModule

    assert FromModule is SDKRegistry
    assert isinstance(SDKRegistry.get_sdk("test"), BaseLLMSDK)


# Standard modules that together cost ~8 ms of a ~25 ms start; discovery does without them.
# Discovery reads entry points from the dist-info files itself: importlib.metadata alone
# costs about as much as the rest of start-up. The start-up time budget is in bench/.
SLOW_AT_START = ("importlib.metadata",)


def test_discovery_imports_no_provider_sdk() -> None:
    """With every installed plugin loaded, no provider client library gets imported."""
    code = (
        "import sys, json, metasync_llm\n"
        "names = metasync_llm.SDKRegistry.list_sdks()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('openai', 'anthropic', 'azure', 'google', 'httpx', 'httpx2', 'opentelemetry'))\n"
        f"slow = sorted(set({SLOW_AT_START!r}) & set(sys.modules))\n"
        "print(json.dumps({'sdks': names, 'heavy': heavy, 'slow': slow}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != ALLOW_ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    report = json.loads(out.stdout)
    assert "test" in report["sdks"]
    assert report["heavy"] == []
    assert report["slow"] == []  # the cold-start benchmark (bench/) counts on it


def test_a_broken_plugin_prints_nothing_without_logging_configured(plugin_site: Path) -> None:
    """Only the CLI shows load failures; the library logs them and never prints."""
    code = (
        "import metasync_llm\n"
        f"registry = metasync_llm.PluginRegistry(path=[{str(plugin_site)!r}])\n"
        "assert registry.load_failures()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != ALLOW_ENV}
    env["PYTHONPATH"] = str(plugin_site)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert (done.stdout, done.stderr) == ("", "")


def test_undecodable_metadata_is_one_failure_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution whose metadata is not UTF-8 fails alone; the others still load."""
    bad = tmp_path / "msl_bad-1.0.dist-info"
    bad.mkdir()
    (bad / "entry_points.txt").write_bytes(b"[metasync_llm.sdks]\nBad = msl_bad\xff:SDK\n")
    (bad / "METADATA").write_bytes(b"Name: msl-bad\xfe\nVersion: 1.0\n\n")
    good = tmp_path / "msl_hand-1.0.dist-info"
    good.mkdir()
    (good / "entry_points.txt").write_text("[metasync_llm.sdks]\nHand = msl_hand:SDK\n")
    (good / "METADATA").write_text("Name: msl-hand\nVersion: 1.0\n\n")
    (tmp_path / "msl_hand.py").write_text(sdk_module("SDK", "Hand"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(ALLOW_ENV, raising=False)

    registry = PluginRegistry(path=[str(tmp_path)])
    assert registry.list_sdks() == ["Hand"]
    [failure] = registry.load_failures()
    assert (failure.plugin.name, failure.kind) == ("Bad", "import-error")
