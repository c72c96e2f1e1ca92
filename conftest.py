"""Fixtures shared by the core's and the plugins' tests: provider spec servers and loopback."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from metasync_llm.testing import LoopbackServer

#: peer name -> the variable of `peers.sh env` holding its base URL
PEER_URL_VARS = {
    "openai": "PEERS_OPENAI_BASE_URL",
    "azure-openai": "PEERS_AZURE_OPENAI_ENDPOINT",
    "anthropic": "PEERS_ANTHROPIC_BASE_URL",
    "azure-ai-inference": "PEERS_AZURE_AI_INFERENCE_ENDPOINT",
    "gemini": "PEERS_GEMINI_BASE_URL",
}


def _peers_script() -> Path | None:
    configured = os.environ.get("METASYNC_PEERS_SH")
    path = (
        Path(configured) if configured else Path(__file__).parent.parent / "shared/peers/peers.sh"
    )
    return path if path.exists() else None


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), 1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def peer() -> Callable[[str], str]:
    """``peer(name)`` is the base URL of a provider's spec server, started on first use.

    The servers are Prism serving the providers' official OpenAPI specs (../shared/peers).
    Without them the test is skipped, or fails when METASYNC_REQUIRE_PEERS=1 (CI).
    """
    script = _peers_script()
    urls: dict[str, str] = {}

    def missing(why: str) -> str:
        if os.environ.get("METASYNC_REQUIRE_PEERS") == "1":
            pytest.fail(f"provider spec servers required but {why}")
        pytest.skip(f"provider spec servers unavailable: {why}")

    def get(name: str) -> str:
        if name in urls:
            return urls[name]
        if script is None:
            return missing("../shared/peers/peers.sh not found (set METASYNC_PEERS_SH)")
        env_lines = subprocess.run(
            ["bash", str(script), "env"], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        values = dict(line.removeprefix("export ").split("=", 1) for line in env_lines)
        url = values[PEER_URL_VARS[name]]
        if not _answers(url):
            started = subprocess.run(
                ["bash", str(script), "start", name], capture_output=True, text=True, check=False
            )
            if started.returncode != 0 or not _answers(url):
                return missing(f"`peers.sh start {name}` failed: {started.stderr[-500:]}")
        urls[name] = url
        return url

    return get


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    """A started :class:`LoopbackServer`, closed after the test."""
    with LoopbackServer() as server:
        yield server
