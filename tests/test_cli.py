"""The metasync-llm command: sdks, validate, complete; exit codes and --json output."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from metasync_llm.cli import main
from metasync_llm.registry import ALLOW_ENV


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def write(tmp_path: Path, data: Any, name: str = "models.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


CATALOG = [
    {
        "name": "echo",
        "sdk": "test",
        "deployment": "echo",
        "cost": {"tokens": 1000, "currency": "EUR", "input": 1, "output": 1},
    },
    {"name": "json", "sdk": "test", "deployment": "json"},
    {
        "name": "throttled",
        "sdk": "test",
        "deployment": "x",
        "test": {"error": "rate_limit"},
        "retry": {"attempts": 1},
    },
]


def test_complete_with_no_setup_uses_the_builtin_test_model() -> None:
    code, out, err = run("complete", "Say hello")
    assert code == 0
    assert json.loads(out)["user_content"] == "Say hello"
    assert "test model test" in err and "tokens" in err and "cost" in err and "USD" in err


def test_complete_reads_the_prompt_from_stdin(tmp_path: Path) -> None:
    model = write(tmp_path, CATALOG[0])
    assert run("complete", "--model", model, stdin="piped prompt")[1] == "piped prompt\n"
    assert run("complete", "--model", model, "-", stdin="dash")[1] == "dash\n"


def test_complete_picks_a_named_model_from_a_catalog(tmp_path: Path) -> None:
    catalog = write(tmp_path, CATALOG)
    code, out, err = run("complete", "--model", catalog, "--name", "echo", "hi there")
    assert (code, out) == (0, "hi there\n")
    assert "EUR" in err
    code, _, err = run("complete", "--model", catalog, "hi")
    assert code == 2 and "choose one with --name: echo, json, throttled" in err
    code, _, err = run("complete", "--model", catalog, "--name", "nope", "hi")
    assert code == 2 and "no model named 'nope'" in err


def test_complete_json_output_for_scripts(tmp_path: Path) -> None:
    code, out, err = run("complete", "--model", write(tmp_path, CATALOG[0]), "--json", "x y")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["text"] == "x y" and data["total_tokens"] == 4 and data["sdk"] == "test"
    assert data["cost"]["currency"] == "EUR"


def test_failed_call_exits_1_with_a_message(tmp_path: Path) -> None:
    code, out, err = run("complete", "--model", write(tmp_path, CATALOG[2]), "hi")
    assert code == 1 and out == ""
    assert err.startswith("metasync-llm: error: test SDK: simulated rate limit")
    code, out, _ = run("complete", "--model", write(tmp_path, CATALOG[2]), "--json", "hi")
    assert code == 1
    assert json.loads(out)["error"]["type"] == "RateLimitError"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "not valid JSON: Expecting property name"),
        (json.dumps({"name": "x", "sdk": "Nope"}), "no SDK named 'Nope'"),
        (json.dumps({"name": "x", "sdk": "test"}), "deployment"),
    ],
)
def test_configuration_problems_exit_2(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "m.json"
    if content is not None:
        path.write_text(content)
    code, out, err = run("complete", "--model", str(path), "hi")
    assert code == 2 and out == ""
    assert message in err


def test_truncated_json_answer_is_printed_raw_and_exits_1(tmp_path: Path) -> None:
    doc = {"name": "t", "sdk": "test", "deployment": "x", "test": {"reply": '{"a": [1, 2, 3]}'}}
    code, out, err = run(
        "complete", "--model", write(tmp_path, doc), "--repair-json", "--max-tokens", "7", "q"
    )
    assert code == 1
    assert out == '{"a": [1\n'
    assert "max_tokens=7" in err


def test_validate_reports_each_document(tmp_path: Path) -> None:
    docs = [*CATALOG, {"name": "bad", "sdk": "test"}, {"sdk": "Nope", "name": "n"}, "junk"]
    code, out, _ = run("validate", write(tmp_path, docs))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "ok       echo (test)"
    assert lines[3] == "invalid  bad (test): test model 'bad' is invalid: 'deployment' is missing"
    assert "no SDK named 'Nope'" in lines[4]
    assert lines[5].startswith("invalid  document #6: model document must be a JSON object")
    assert lines[-1] == "3 valid, 3 invalid"
    code, out, _ = run("validate", "--json", write(tmp_path, CATALOG[:2]))
    assert code == 0 and [r["valid"] for r in json.loads(out)] == [True, True]


def test_sdks_lists_the_builtin_sdk_and_the_environment() -> None:
    code, out, _ = run("sdks")
    assert code == 0
    assert out.splitlines()[1].split()[:3] == ["test", "metasync-llm", "0.1.0"]
    assert f"Python: {sys.executable}" in out
    data = json.loads(run("sdks", "--json")[1])
    assert data["sdks"][0]["name"] == "test" and data["environment"]["python"] == sys.executable


def test_console_script_lists_broken_plugins_and_still_completes(plugin_site: Path) -> None:
    """The installed command, in a process that sees every plugin_distributions.py plugin."""
    exe = shutil.which("metasync-llm", path=os.path.dirname(sys.executable)) or shutil.which(
        "metasync-llm"
    )
    assert exe, "metasync-llm is not installed in this environment"
    env = {k: v for k, v in os.environ.items() if k != ALLOW_ENV}
    env["PYTHONPATH"] = str(plugin_site)
    sdks = subprocess.run(
        [exe, "sdks", "--json"], capture_output=True, text=True, env=env, check=False
    )
    assert sdks.returncode == 0, sdks.stderr
    report = json.loads(sdks.stdout)
    names = {s["name"] for s in report["sdks"]}
    assert {"test", "Good", "Malformed", "Raises"} <= names
    kinds = {f["name"]: f["kind"] for f in report["failures"]}
    assert kinds["ImportFail"] == "import-error" and kinds["Dup"] == "duplicate-name"
    check = subprocess.run(
        [exe, "sdks", "--check"], capture_output=True, text=True, env=env, check=False
    )
    assert check.returncode == 1 and "Failed to load" in check.stdout
    done = subprocess.run(
        [exe, "complete", "hello"], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0 and json.loads(done.stdout)["user_content"] == "hello"


def test_module_entry_point_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "metasync_llm", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("metasync-llm 0.1.0")


def test_progress_timer_is_opt_in_and_cleared(tmp_path: Path) -> None:
    doc = {"name": "slow", "sdk": "test", "deployment": "echo", "test": {"delay": 0.35}}
    code, out, err = run("complete", "--model", write(tmp_path, doc), "--progress", "hi")
    assert (code, out) == (0, "hi\n")
    assert "waiting for the model... 0.1s" in err
    assert "\r\033[K" in err  # the timer line is erased before the summary
    assert "waiting" not in run("complete", "--model", write(tmp_path, doc), "hi")[2]


def test_stream_prints_chunks_and_the_summary(tmp_path: Path) -> None:
    doc = {"name": "s", "sdk": "test", "deployment": "echo"}
    code, out, err = run("complete", "--stream", "--model", write(tmp_path, doc), "a b c")
    assert (code, out) == (0, "a b c\n")
    assert "first chunk" in err and "tokens 3 in / 3 out" in err
    code, out, _ = run("complete", "--stream", "--json", "--model", write(tmp_path, doc), "a b")
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[:2] == [{"chunk": "a "}, {"chunk": "b"}]
    assert lines[2]["result"]["text"] == "a b"


def test_stream_cut_mid_way_keeps_the_partial_answer_and_exits_1(tmp_path: Path) -> None:
    doc = {"name": "s", "sdk": "test", "deployment": "echo", "test": {"cutAfter": 2}}
    code, out, err = run("complete", "--stream", "--model", write(tmp_path, doc), "a b c d")
    assert (code, out) == (1, "a b \n")
    assert "simulated stream cut after 2 chunks" in err


def test_json_errors_go_to_stdout_only(tmp_path: Path) -> None:
    code, out, err = run("complete", "--model", write(tmp_path, CATALOG[2]), "--json", "hi")
    assert code == 1 and err == ""
    error = json.loads(out)["error"]
    assert (error["type"], error["attempts"]) == ("RateLimitError", 1)
    code, out, err = run("complete", "--model", str(tmp_path / "missing.json"), "--json", "hi")
    assert code == 2 and err == "" and "does not exist" in json.loads(out)["error"]["message"]


def test_model_files_empty_or_with_a_byte_order_mark(tmp_path: Path) -> None:
    code, _, err = run("complete", "--model", write(tmp_path, []), "hi")
    assert code == 2 and "holds an empty list: no model documents" in err
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(CATALOG[0]).encode())
    assert run("complete", "--model", str(bom), "hi there")[:2] == (0, "hi there\n")
    assert run("validate", str(bom))[0] == 0


@pytest.mark.parametrize("where", ["/proc", "a-file"])
def test_new_sdk_into_a_place_it_cannot_write_is_one_line(tmp_path: Path, where: str) -> None:
    target = tmp_path / where if where == "a-file" else Path(where)
    if where == "a-file":
        target.write_text("not a folder")
    code, out, err = run("new-sdk", "AcmeChat", "--dir", str(target))
    assert code == 2 and out == ""
    assert err.startswith("metasync-llm: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_new_sdk_refuses_a_name_already_taken(tmp_path: Path) -> None:
    code, _, err = run("new-sdk", "test", "--dir", str(tmp_path))
    assert code == 2 and "SDK name 'test' is taken: it is installed here, from metasync-llm" in err
    code, _, err = run("new-sdk", "OpenAI", "--dir", str(tmp_path))
    assert code == 2 and "metasync-llm-openai" in err
    assert not list(tmp_path.iterdir()), "nothing is written for a refused name"
    assert run("new-sdk", "test", "--dir", str(tmp_path), "--force")[0] == 0


def test_a_provider_sdk_that_is_not_installed_names_its_distribution(tmp_path: Path) -> None:
    from metasync_llm import PluginRegistry, SDKNotFoundError

    registry = PluginRegistry(path=[str(tmp_path)])
    with pytest.raises(SDKNotFoundError) as info:
        registry.get_sdk("Anthropic")
    # The packages are not on PyPI: the hint says how README installs them.
    assert "not on PyPI yet" in str(info.value)
    assert "pip install ./plugins/metasync-llm-anthropic" in str(info.value)
    assert "--find-links DIR metasync-llm-anthropic" in str(info.value)


def test_an_empty_prompt_is_the_users_to_fix_not_the_providers(tmp_path: Path) -> None:
    for prompt in ("", "   \n"):
        code, out, err = run("complete", prompt)
        assert code == 2 and "the prompt is empty" in err and out == ""
    code, out, _ = run("complete", "", "-s", "Only a system prompt.")
    assert code == 0 and out


def test_complete_with_a_schema_prints_the_validated_json(tmp_path: Path) -> None:
    schema = write(
        tmp_path,
        {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
        "schema.json",
    )
    code, out, _ = run("complete", "--schema", schema, "a number")
    assert code == 0 and json.loads(out) == {"n": 0}
    code, out, _ = run("complete", "--schema", schema, "--json", "a number")
    assert json.loads(out)["data"] == {"n": 0}
    bad = write(
        tmp_path,
        {
            "name": "b",
            "sdk": "test",
            "deployment": "x",
            "schemaRetries": 0,
            "test": {"reply": "no"},
        },
        "bad.json",
    )
    code, out, err = run("complete", "--model", bad, "--schema", schema, "q")
    assert code == 1 and "not valid against the schema" in err
    code, _, err = run("complete", "--schema", str(tmp_path / "none.json"), "q")
    assert code == 2 and "schema file" in err and "does not exist" in err


def test_complete_with_a_conversation_and_stop_sequences(tmp_path: Path) -> None:
    turns = write(
        tmp_path,
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        "turns.json",
    )
    echo = write(tmp_path, CATALOG[0])
    code, out, err = run("complete", "--model", echo, "--messages", turns, "and now? STOP no")
    assert (code, out) == (0, "and now? STOP no\n")
    assert "tokens 7 in" in err  # every turn counts
    code, out, _ = run("complete", "--model", echo, "--stop", "STOP", "and now? STOP no")
    assert out == "and now? \n"
    not_a_list = write(tmp_path, {"role": "user"}, "one.json")
    assert run("complete", "--messages", not_a_list, "x")[0] == 2


def test_chat_with_piped_input_answers_each_line_as_a_turn(tmp_path: Path) -> None:
    model = write(tmp_path, CATALOG[0])
    code, out, err = run("chat", "--model", model, stdin="first line\n\nsecond line\n")
    assert code == 0
    assert out == "first line\nsecond line\n"
    assert err.count("tokens") == 2 and "tokens 6 in" in err  # the second turn sees the first
    failing = write(tmp_path, CATALOG[2])
    code, out, err = run("chat", "--model", failing, stdin="one\ntwo\n")
    assert code == 1 and err.count("simulated rate limit") == 2
    code, _, err = run(
        "chat", "--model", write(tmp_path, {"name": "x", "sdk": "test"}), stdin="hi\n"
    )
    assert code == 2 and "deployment" in err


class _ChatAtATerminal:
    """``metasync-llm chat --model MODEL`` in a child process on a real terminal (a pty)."""

    def __init__(self, model: str) -> None:
        import pty

        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the chat on the terminal
            env = {k: v for k, v in os.environ.items() if k != ALLOW_ENV}
            os.execve(
                sys.executable,
                [sys.executable, "-m", "metasync_llm", "chat", "--model", model],
                env,
            )
        self.seen = b""

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def read_until(self, marker: bytes, times: int = 1, timeout: float = 20) -> None:
        """Read the terminal until ``marker`` has shown ``times`` times."""
        import select

        end = time.monotonic() + timeout
        while self.seen.count(marker) < times:
            ready, _, _ = select.select([self.fd], [], [], max(0, end - time.monotonic()))
            assert ready, f"no {marker!r} in {self.seen!r}"
            try:
                self.seen += os.read(self.fd, 1024)
            except OSError as exc:  # the child ended: the terminal is gone
                raise AssertionError(f"no {marker!r} in {self.seen!r}") from exc

    def exit_status(self) -> int:
        """Leave the chat; its exit status."""
        try:
            self.type(b"exit\n")
            _, status = os.waitpid(self.pid, 0)
        finally:
            os.close(self.fd)
        return os.WEXITSTATUS(status)


def test_chat_at_a_terminal_ctrl_c_stops_only_the_current_answer(tmp_path: Path) -> None:
    """A real terminal (a pty): the prompt, a streamed answer cut by Ctrl-C, another turn."""
    slow = {"name": "slow", "sdk": "test", "deployment": "echo", "test": {"chunkDelay": 0.3}}
    chat = _ChatAtATerminal(write(tmp_path, slow))
    chat.read_until(b"> ")
    chat.type(b"alpha beta gamma delta epsilon zeta eta theta\n")
    chat.read_until(b"theta\r\nalpha beta ")  # the terminal's echo, then the answer begins
    chat.type(b"\x03")  # Ctrl-C
    chat.read_until(b"[answer stopped")
    chat.read_until(b"> ", times=2)
    chat.type(b"again\n")
    chat.read_until(b"again\r\n")
    chat.read_until(b"tokens 1 in")  # the stopped turn is not in the conversation
    assert chat.exit_status() == 0, chat.seen
    answer = chat.seen.split(b"theta\r\n", 1)[1].split(b"[answer stopped", 1)[0]
    assert answer.startswith(b"alpha beta ") and b"theta" not in answer


# -- what reaches a terminal -------------------------------------------------------------

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[1A\rgone\x9b31m ok\ttab\nnext line"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_control_characters_in_an_answer_are_shown_escaped_at_a_terminal(
    tmp_path: Path,
) -> None:
    model = write(tmp_path, CATALOG[0])  # echo: the answer is the prompt
    for stream in ([], ["--stream"]):
        terminal, err = _Terminal(), io.StringIO()
        code = main(
            ["complete", "--model", model, HOSTILE, *stream],
            stdout=terminal,
            stderr=err,
            stdin=io.StringIO(),
        )
        shown = terminal.getvalue()
        assert code == 0
        assert not any(c in shown for c in "\x1b\x07\r\x9b"), repr(shown)
        assert "\\x1b]0;pwned\\x07\\x1b[2J" in shown and "\\x9b31m ok\ttab\nnext line" in shown
        # Piped, the answer is the model's text, byte for byte.
        code, out, _ = run("complete", "--model", model, HOSTILE, *stream)
        assert code == 0 and out == HOSTILE + "\n"


def test_chat_edits_the_line_with_arrow_keys_at_a_terminal(tmp_path: Path) -> None:
    chat = _ChatAtATerminal(write(tmp_path, CATALOG[0]))
    chat.read_until(b"> ")
    chat.type(b"helo world" + b"\x1b[D" * 7 + b"l\n")  # Left x7, then "l"
    chat.read_until(b"tokens")
    chat.type(b"\x1b[A\n")  # Up: the last turn again
    chat.read_until(b"tokens", times=2)
    assert chat.exit_status() == 0, chat.seen
    first, second = chat.seen.split(b"tokens")[:2]
    # The answer (an echo) is the edited line: the arrow keys never reached the model.
    assert b"\r\nhello world\r\ntest model" in first
    assert b"hello world\r\nhello world\r\ntest model" in second  # recalled by the Up key


def test_ctrl_c_with_json_is_reported_as_json(tmp_path: Path) -> None:
    import signal
    import subprocess

    slow = write(
        tmp_path, {"name": "slow", "sdk": "test", "deployment": "echo", "test": {"delay": 30}}
    )
    env = {k: v for k, v in os.environ.items() if k != ALLOW_ENV}
    child = subprocess.Popen(
        [sys.executable, "-m", "metasync_llm", "complete", "--model", slow, "hi", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(2)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130 and err == ""
    assert json.loads(out)["error"]["type"] == "KeyboardInterrupt"


# -- tools -----------------------------------------------------------------------------------

WEATHER_MODULE = '''
def get_weather(city: str) -> str:
    """The weather in a city now."""
    return f"sunny in {city}"

def explode(city: str) -> str:
    """Always fails."""
    raise RuntimeError("no forecast")
'''


@pytest.fixture
def tool_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "cli_weather_tools.py").write_text(WEATHER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cli_weather_tools"


def test_complete_with_tool_runs_the_loop_and_prints_the_answer(tool_module: str) -> None:
    code, out, err = run("complete", "get_weather please", "--tool", f"{tool_module}:get_weather")
    assert code == 0 and out == "Tool results: get_weather: sunny in example\n"
    assert err.startswith("2 rounds, tokens in/out/total ")


def test_complete_with_tool_json_has_the_transcript(tool_module: str) -> None:
    code, out, _ = run(
        "complete", "explode", "--tool", f"{tool_module}:explode", "--json", "--max-rounds", "3"
    )
    data = json.loads(out)
    assert code == 0 and data["rounds"] == 2
    assert [m["role"] for m in data["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert data["messages"][2]["content"] == "Error: RuntimeError: no forecast"


def test_complete_with_tool_definitions_prints_the_calls(tmp_path: Path) -> None:
    tools = [
        {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
    code, out, _ = run("complete", "x", "--tools", write(tmp_path, tools, "tools.json"), "-q")
    assert code == 0 and out == 'tool call call_0_0: lookup({"q": "example"})\n'


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tool", "no_such_module_here:f"], "cannot import 'no_such_module_here'"),
        (["--tool", "json"], "give MODULE:FUNCTION"),
        (["--tool", "json:nothing"], "json has no function 'nothing'"),
        (["--tool", "json:dumps", "--stream"], "--stream does not run tools"),
        (["--tool-choice", "auto"], "tool_choice is given without tools"),
    ],
)
def test_bad_tool_options_exit_2(extra: list[str], message: str) -> None:
    code, _, err = run("complete", "x", *extra)
    assert code == 2 and message in err
