"""Installing by name: the core and a plugin from a folder of wheels, as `nox -s build` makes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from metasync_llm.testing import LoopbackServer
from metasync_llm.testing.wires import TEXT, openai_chat

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_core_and_a_plugin_install_by_name_from_a_wheel_folder_alone(tmp_path: Path) -> None:
    wheels = tmp_path / "dist"
    # As `nox -s build`: the wheels of the core and the plugin, their dependencies beside.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--disable-pip-version-check",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            str(ROOT),
            str(ROOT / "plugins" / "metasync-llm-openai"),
        ],
        check=True,
    )
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    # No index and no configured wheel folders: the dist folder alone.
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PIP_CONFIG_FILE": os.devnull}
    subprocess.run(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-index",
            "--find-links",
            str(wheels),
            "metasync-llm",
            "metasync-llm-openai",
        ],
        env=env,
        check=True,
    )
    cli = str(bin_dir / "metasync-llm")
    listed = json.loads(
        subprocess.run(
            [cli, "sdks", "--json"], capture_output=True, text=True, env=env, check=True
        ).stdout
    )
    assert {s["name"] for s in listed["sdks"]} == {"OpenAI", "test"}
    offline = subprocess.run(
        [cli, "complete", "Say hello"], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(offline.stdout)["user_content"] == "Say hello"
    with LoopbackServer(default=openai_chat) as server:
        model = tmp_path / "model.json"
        model.write_text(
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
        done = subprocess.run(
            [cli, "complete", "--model", str(model), "Hello"],
            capture_output=True,
            text=True,
            env={**env, "K": "sk-wheel"},
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == TEXT
