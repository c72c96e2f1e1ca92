"""Each provider plugin, installed, through the `metasync-llm` command against its spec server."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from metasync_llm.registry import ALLOW_ENV

#: SDK name -> (plugin module, distribution, spec server, extra document fields)
PLUGINS = {
    "OpenAI": ("metasync_llm_openai", "metasync-llm-openai", "openai", {}),
    "AzureOpenAI": (
        "metasync_llm_azure_openai",
        "metasync-llm-azure-openai",
        "azure-openai",
        {"apiVersion": "2024-10-21"},
    ),
    "Anthropic": ("metasync_llm_anthropic", "metasync-llm-anthropic", "anthropic", {}),
    "ChatCompletionsClient": (
        "metasync_llm_azure_inference",
        "metasync-llm-azure-inference",
        "azure-ai-inference",
        {"apiVersion": "2025-04-01"},
    ),
    "Gemini": ("metasync_llm_gemini", "metasync-llm-gemini", "gemini", {}),
}


def _cli() -> str:
    exe = shutil.which("metasync-llm", path=os.path.dirname(sys.executable))
    assert exe, "metasync-llm is not installed in this environment"
    return exe


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        if os.environ.get("METASYNC_REQUIRE_PEERS") == "1":
            pytest.fail(f"{module} is not installed (nox installs every plugin)")
        pytest.skip(f"{module} is not installed")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != ALLOW_ENV}
    return {**env, **extra}


def _cli_run(*args: str, check: bool = False, **keys: str) -> subprocess.CompletedProcess[str]:
    """``metasync-llm ARGS`` as a user runs it, with ``keys`` in its environment."""
    return subprocess.run(
        [_cli(), *args], capture_output=True, text=True, env=_env(**keys), check=check
    )


@pytest.mark.parametrize("sdk", sorted(PLUGINS))
def test_complete_command_against_the_spec_server(
    sdk: str, peer: Callable[[str], str], tmp_path: Path
) -> None:
    module, _, server, extra = PLUGINS[sdk]
    _require(module)
    model = {
        "name": f"{sdk}-e2e",
        "sdk": sdk,
        "endpoint": peer(server),
        "deployment": "claude-opus-5" if sdk == "Anthropic" else "gpt-4o",
        "key": "KEY-E2E",
        "minTemperature": 0,
        "maxTemperature": 1,
        **extra,
    }
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    args = ["complete", "--model", str(path), "--max-tokens", "32"]
    done = _cli_run(*args, "Hello", KEY_E2E="sk-e2e-secret")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert f"{sdk} model {sdk}-e2e" in done.stderr and "tokens" in done.stderr
    assert "sk-e2e-secret" not in done.stdout + done.stderr
    streamed = _cli_run(*args, "--stream", "Hello", KEY_E2E="sk-e2e-secret")
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout.strip()
    # Nothing but the summary on stderr: no client library's warnings at the user's terminal.
    assert streamed.stderr.strip().startswith(f"{sdk} model {sdk}-e2e"), streamed.stderr
    missing_key = _cli_run(*args, "Hello")
    assert missing_key.returncode == 2 and "KEY_E2E" in missing_key.stderr


def test_sdks_command_lists_every_installed_plugin_with_its_version() -> None:
    for module, *_ in PLUGINS.values():
        _require(module)
    done = _cli_run("sdks", "--json", check=True)
    report = json.loads(done.stdout)
    listed = {s["name"]: (s["distribution"], s["version"]) for s in report["sdks"]}
    for sdk, (_, dist, _, _) in PLUGINS.items():
        assert listed[sdk] == (dist, "0.1.0")
    assert listed["test"][0] == "metasync-llm"
    assert report["failures"] == []


def test_the_first_call_reports_client_setup_apart_from_the_call(tmp_path: Path) -> None:
    """A fresh process imports the client library on its first call: shown on its own."""
    from metasync_llm.testing import LoopbackServer
    from metasync_llm.testing.wires import openai_chat

    _require("metasync_llm_openai")
    with LoopbackServer(default=openai_chat) as server:
        path = tmp_path / "model.json"
        path.write_text(
            json.dumps(
                {
                    "name": "o",
                    "sdk": "OpenAI",
                    "endpoint": server.url,
                    "deployment": "m",
                    "key": "K",
                }
            )
        )
        done = _cli_run("complete", "--model", str(path), "Hello", K="sk-setup-key")
        assert done.returncode == 0, done.stderr
        assert "client setup (first use of the SDK)" in done.stderr
        as_json = _cli_run(
            "complete", "--model", str(path), "--json", "Hello", check=True, K="sk-setup-key"
        )
    result = json.loads(as_json.stdout)
    assert 0 < result["setup"] < result["elapsed"]
