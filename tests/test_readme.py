"""README's and docs' examples run as written: Python blocks in order, in a fresh process;
the batch shell examples in a shell.

The provider example's endpoint is pointed at a loopback server that speaks the OpenAI
wire format; everything else runs offline with the built-in ``test`` SDK.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from metasync_llm.registry import ALLOW_ENV
from metasync_llm.testing import LoopbackServer
from metasync_llm.testing.wires import openai_chat

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def blocks(path: Path, language: str = "python") -> list[str]:
    block = re.compile(rf"^```{language}\n(.*?)^```$", re.DOTALL | re.MULTILINE)
    return block.findall(path.read_text(encoding="utf-8"))


def python_blocks() -> list[str]:
    return blocks(README)


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``command`` in ``cwd``, as a user would run it: no allow-list, no key in the
    environment, this interpreter's scripts (``metasync-llm``) first on ``PATH``."""
    env = {k: v for k, v in os.environ.items() if k not in (ALLOW_ENV, "KEY_OPENAI")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


#: What each README Python block prints, as its comments say (the provider block: nothing).
PRINTED = [
    ["Hello!", "(6, 2, 8)"],
    [],
    ["Tell a story", "(7, 3, 10)", "Hi ['Tell ', 'a ', 'story']"],
    ["Another one?", "name='example' hex='example'", "one two"],
    [
        "Tool results: get_weather: sunny in example",
        "2 ['user', 'assistant', 'tool', 'assistant']",
    ],
    ["Received: image/gif, 13 bytes, sha256 e166f869cdc0", "Thought it over (reasoning=low)."],
    ["Hello! backup", "['ServerError', None]"],
    ["p ok 4"],
]


def test_every_python_example_runs_on_its_own(tmp_path: Path) -> None:
    """Each block in a fresh process, as a reader copies one: no block needs another."""
    if importlib.util.find_spec("metasync_llm_openai") is None:
        if os.environ.get("METASYNC_REQUIRE_PEERS") == "1":
            pytest.fail("metasync_llm_openai is not installed (nox installs every plugin)")
        pytest.skip("metasync_llm_openai is not installed")
    examples = python_blocks()
    assert len(examples) == len(PRINTED), "a README example was added or removed: see PRINTED"
    with LoopbackServer(default=openai_chat) as server:
        for block, printed in zip(examples, PRINTED, strict=True):
            # The provider example goes to a stand-in server.
            script = block.replace("https://api.openai.com/v1", server.url)
            done = run([sys.executable, "-c", script], tmp_path)
            assert done.returncode == 0, (block, done.stderr)
            assert done.stdout.splitlines() == printed, block
            assert done.stderr == ""
        assert server.requests, "the provider example did not reach the server"
        assert server.requests[0].headers["authorization"] == "Bearer sk-your-key"


def test_readme_is_a_ten_minute_read() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 320


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("docs/batch.md", ["100 0 100"]),
        (
            "docs/observability.md",
            [
                "first chunk echo",
                "ended echo ok 1 4",
                "retry 1 RateLimitError 0.05",
                "ended throttled error 2 None",
                "echo 3 12",
            ],
        ),
    ],
)
def test_the_guides_python_examples_run_as_written(
    doc: str, expected: list[str], tmp_path: Path
) -> None:
    done = run([sys.executable, "-c", "\n\n".join(blocks(ROOT / doc))], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected
    assert done.stderr == ""


@pytest.mark.parametrize("doc", ["README.md", "docs/batch.md"])
def test_the_batch_shell_examples_run_as_written(doc: str, tmp_path: Path) -> None:
    (script,) = [b for b in blocks(ROOT / doc, "bash") if "metasync-llm batch requests" in b]
    done = run(["bash", "-euo", "pipefail", "-c", script], tmp_path)
    assert done.returncode == 0, done.stderr
    requests = (tmp_path / "requests.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text().splitlines()]
    # The second run resumed: every request answered once, nothing run twice.
    assert sorted(r["id"] for r in rows) == sorted(json.loads(r)["id"] for r in requests)
    assert all(r["error"] is None and r["text"] for r in rows)
    assert "from earlier runs" in done.stderr
    assert json.loads((tmp_path / "summary.json").read_text())["rows"] == len(requests)
