"""README's examples run as written: its Python blocks, in order, in a fresh process.

The provider example's endpoint is pointed at a loopback server that speaks the OpenAI
wire format; everything else runs offline with the built-in ``test`` SDK.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from metasync_llm.registry import ALLOW_ENV
from metasync_llm.testing import LoopbackServer
from metasync_llm.testing.wires import TEXT, openai_chat

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def test_every_python_example_runs_as_written(tmp_path: Path) -> None:
    if importlib.util.find_spec("metasync_llm_openai") is None:
        if os.environ.get("METASYNC_REQUIRE_PEERS") == "1":
            pytest.fail("metasync_llm_openai is not installed (nox installs every plugin)")
        pytest.skip("metasync_llm_openai is not installed")
    blocks = python_blocks()
    assert len(blocks) >= 6
    script = "\n\n".join(blocks)
    assert "https://api.openai.com/v1" in script
    with LoopbackServer(default=openai_chat) as server:
        script = script.replace("https://api.openai.com/v1", server.url)
        env = {k: v for k, v in os.environ.items() if k not in (ALLOW_ENV, "KEY_OPENAI")}
        done = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert server.requests, "the provider example did not reach the server"
        assert server.requests[0].headers["authorization"] == "Bearer sk-your-key"
    out = done.stdout.splitlines()
    # What the examples say they print, in their order.
    for expected in (
        "Hello!",
        "(6, 2, 8)",
        "Hi again",
        "Another one?",
        "name='example' hex='example'",
        "one two",
        "2 0.1",
    ):
        assert expected in out, (expected, out)
    assert TEXT not in done.stdout  # the provider answer is not printed by the example
    assert done.stderr == ""
