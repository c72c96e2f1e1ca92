"""`metasync-llm new-sdk`: a scaffolded plugin installs, loads, and runs the conformance suite."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from plugin_distributions import pip_install

from metasync_llm._plugins._scaffold import BEGIN, END, names
from metasync_llm.cli import main
from metasync_llm.registry import ALLOW_ENV
from metasync_llm.testing import LoopbackServer
from metasync_llm.testing.wires import TEXT, openai_chat

ROOT = Path(__file__).resolve().parent.parent

#: What a third party writes into the marked region: a plain HTTP call to its API
#: (the example of docs/writing-a-plugin.md, section 2).
API_CALL = """
        import json
        import urllib.request

        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}
        url = config["endpoint"].rstrip("/") + "/chat/completions"
        with toolkit.sdk_errors(OSError, sdk=SDK, model=config.get("name")):
            req = urllib.request.Request(url, data=data, headers=headers)
            with urllib.request.urlopen(req, timeout=toolkit.timeout_of(config)) as response:
                # The body as it arrives, through the core: the attempt's deadline holds.
                answer: dict[str, Any] = toolkit.read_json(iter(lambda: response.read1(65536), b""))
        return answer
"""


def scaffold(tmp_path: Path, name: str = "AcmeChat") -> Path:
    code = main(["new-sdk", name, "--dir", str(tmp_path)], stdout=io.StringIO())
    assert code == 0
    dist, _, _ = names(name)
    return tmp_path / dist


def fill_in_the_call(root: Path, package: str) -> None:
    plugin = root / "src" / package / "plugin.py"
    source = plugin.read_text()
    start, end = source.index(BEGIN), source.index(END) + len(END)
    plugin.write_text(
        source[:start].rstrip()
        + "\n"
        + API_CALL.strip("\n").replace("\n        ", "\n        ")
        + "\n"
        + source[end:].lstrip("\n")
    )


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != ALLOW_ENV}, **extra}


def test_scaffold_refuses_bad_names_and_existing_folders(tmp_path: Path) -> None:
    assert main(["new-sdk", "bad name", "--dir", str(tmp_path)], stderr=io.StringIO()) == 2
    scaffold(tmp_path)
    assert main(["new-sdk", "AcmeChat", "--dir", str(tmp_path)], stderr=io.StringIO()) == 2
    assert names("MySdk") == ("metasync-llm-my-sdk", "metasync_llm_my_sdk", "MySdkSDK")


def test_out_of_the_box_it_installs_loads_and_only_the_call_fails(tmp_path: Path) -> None:
    root = scaffold(tmp_path)
    site = tmp_path / "site"
    pip_install([root], site)
    env = _env(PYTHONPATH=str(site))
    listed = subprocess.run(
        [sys.executable, "-m", "metasync_llm", "sdks", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    report = json.loads(listed.stdout)
    assert {
        "name": "AcmeChat",
        "distribution": "metasync-llm-acme-chat",
        "version": "0.1.0",
        "entry_point": "metasync_llm_acme_chat.plugin:AcmeChatSDK",
    } in report["sdks"]
    assert report["failures"] == []
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=False,
    )
    summary = tests.stdout.strip().splitlines()[-1]
    assert tests.returncode == 1, tests.stdout
    assert summary.startswith("9 failed, 6 passed, 5 skipped"), tests.stdout
    # The summary line is "FAILED path::Class::test" (CI=true adds " - message").
    failed = {
        line.split("::")[-1].split(" - ")[0]
        for line in tests.stdout.splitlines()
        if line.startswith("FAILED")
    }
    assert failed == {  # the tests that make a call
        "test_complete_returns_text_and_integer_counts",
        "test_stream_and_async_forms_agree",
        "test_a_stalled_server_is_a_timeout",
        "test_a_trickling_server_is_stopped_at_the_deadline",
        "test_a_429_carries_its_retry_after",
        "test_a_stream_cut_part_way_is_an_error_not_a_short_answer",
        "test_an_answer_without_usage_reports_unknown_counts_not_zero",
        "test_calls_read_to_their_end_share_one_connection",
        "test_observers_see_each_call_start_and_end_with_its_usage",
    }
    assert "AcmeChat: the API call is not written yet: fill in _call_api" in tests.stdout


@pytest.mark.slow
def test_a_third_party_ships_a_plugin_end_to_end(tmp_path: Path) -> None:
    """Scaffold, write the call, pip install into a fresh venv with the core, then use it."""
    root = scaffold(tmp_path)
    fill_in_the_call(root, "metasync_llm_acme_chat")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(ROOT),
            f"{root}[test]",
        ],
        check=True,
    )
    cli = str(env_dir / "bin" / "metasync-llm")
    env = _env()
    env.pop("PYTHONPATH", None)

    listed = json.loads(
        subprocess.run(
            [cli, "sdks", "--json"], capture_output=True, text=True, env=env, check=True
        ).stdout
    )
    assert {s["name"] for s in listed["sdks"]} == {"AcmeChat", "test"}

    tests = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    # Skipped: the features it does not declare, and the connection check (urllib sends
    # "Connection: close": it keeps no connections to reuse).
    assert tests.stdout.strip().splitlines()[-1].startswith("14 passed, 6 skipped")

    with LoopbackServer(default=openai_chat) as server:
        model = tmp_path / "model.json"
        model.write_text(
            json.dumps(
                {
                    "name": "acme",
                    "sdk": "AcmeChat",
                    "endpoint": server.url,
                    "deployment": "acme-1",
                    "key": "KEY-ACME",
                }
            )
        )
        done = subprocess.run(
            [cli, "complete", "--model", str(model), "Hello"],
            capture_output=True,
            text=True,
            env={**env, "KEY_ACME": "sk-acme-key"},
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == TEXT
        assert "AcmeChat model acme" in done.stderr and "tokens 7 in / 5 out" in done.stderr
        assert server.requests[-1].headers["authorization"] == "Bearer sk-acme-key"
