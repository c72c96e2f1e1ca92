"""Batch jobs when things go wrong: every line ends as a row, and the job never hangs.

Undecodable input, calls that raise what no call should, a full disk, a reader that
closes the pipe, two jobs on one output, a burst of 429s, limits that could never run.
Jobs run through the offline test SDK, or the OpenAI plugin against ``batch_server.py``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from batch_server import StandIn
from test_batch import CATALOG, OPENAI, _openai, batch, lines, rows

import metasync_llm as msl
from metasync_llm.batch import OutputError, OutputLockedError, _calls, run_batch

METASYNC = [sys.executable, "-m", "metasync_llm"]


def _requests(count: int, **extra: Any) -> str:
    return lines(*({"id": i, "model": "echo", "user": f"u{i}", **extra} for i in range(count)))


# -- input that cannot be read as it stands ----------------------------------------------


def test_a_line_that_is_not_utf8_is_an_error_row_and_the_job_goes_on(tmp_path: Path) -> None:
    good = json.dumps({"id": "ok", "model": "echo", "user": "fine"}).encode()
    bad = b'{"id": "x", "model": "echo", "user": "caf\xe9"}'
    (tmp_path / "in.jsonl").write_bytes(bad + b"\n" + good + b"\n")
    out = tmp_path / "out.jsonl"
    code, _, err = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", str(out))
    assert code == 1
    by_line = {row["line"]: row for row in rows(out)}
    assert by_line[1]["error"]["type"] == "InvalidLine"
    assert "not UTF-8 text (byte 0xe9" in by_line[1]["error"]["message"]
    assert by_line[2]["text"] == "fine"
    assert "line 1: not UTF-8" in err
    # --resume reads past it too, and does not run the line again.
    code, _, _ = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", str(out), "--resume")
    assert code == 1 and len(rows(out)) == 2  # exit 1: the job still has its error row


def test_a_byte_order_mark_and_a_bare_carriage_return_are_part_of_the_text(
    tmp_path: Path,
) -> None:
    first = json.dumps({"id": 1, "model": "echo", "user": "one"})
    second = '{"id": 2, "model": "echo", "user": "two\rlines"}'  # a raw CR inside a string
    (tmp_path / "in.jsonl").write_bytes(b"\xef\xbb\xbf" + f"{first}\n{second}\n".encode())
    out = tmp_path / "out.jsonl"
    code, _, err = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", str(out))
    # The CR is an invalid control character inside a JSON string: one error row, line 2,
    # not two half-lines.
    by_line = {row["line"]: row for row in rows(out)}
    assert set(by_line) == {1, 2}, err
    assert by_line[1]["text"] == "one" and by_line[1]["error"] is None
    assert by_line[2]["error"]["type"] == "InvalidLine"
    assert code == 1


def test_stdin_is_read_as_bytes_too(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    stdin = b'\xef\xbb\xbf{"id": 1, "model": "echo", "user": "a"}\n\xff\n'
    done = subprocess.run(
        [*METASYNC, "batch", "-", "-c", str(tmp_path / "catalog.json"), "-q"],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert done.returncode == 1, done.stderr
    assert [(r["line"], r["error"] and r["error"]["type"]) for r in out] in (
        [(1, None), (2, "InvalidLine")],
        [(2, "InvalidLine"), (1, None)],
    )


def test_a_lone_surrogate_is_written_as_an_escape_that_reads_back(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(
        '{"id": "s", "model": "echo", "user": "a \\ud800 b"}\n' + _requests(3)
    )
    out = tmp_path / "out.jsonl"
    code, _, err = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", str(out))
    assert code == 0, err
    by_id = {row["id"]: row for row in rows(out)}
    assert by_id["s"]["text"] == "a \ud800 b" and len(by_id) == 4


# -- errors inside a call ----------------------------------------------------------------


def test_an_unexpected_error_in_a_call_is_a_row_naming_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = _calls.acomplete_with_model

    async def sometimes_broken(model: Any, *a: Any, **k: Any) -> Any:
        if k["user_content"] in ("u1", "u3"):
            raise RecursionError("maximum recursion depth exceeded")
        return await real(model, *a, **k)

    monkeypatch.setattr(_calls, "acomplete_with_model", sometimes_broken)
    got: list[dict[str, Any]] = []
    # One worker: before, its death left the reader waiting forever on a full queue.
    summary = run_batch(
        ({"id": i, "model": "echo", "user": f"u{i}"} for i in range(6)),
        CATALOG,
        on_result=got.append,
        concurrency=1,
    )
    assert summary.rows == 6 and summary.failed == 2
    errors = {row["id"]: row["error"] for row in got if row["error"]}
    assert set(errors) == {1, 3}
    assert errors[1]["type"] == "RecursionError" and errors[1]["retryable"] is False
    assert "unexpected RecursionError" in errors[1]["message"]


def test_a_callback_that_raises_stops_the_job_with_its_error(tmp_path: Path) -> None:
    def fussy(row: dict[str, Any]) -> None:
        if row["id"] == 5:
            raise ValueError("the caller's own bug")

    with pytest.raises(ValueError, match="the caller's own bug"):
        run_batch(
            ({"id": i, "model": "echo", "user": "x"} for i in range(1000)),
            CATALOG,
            on_result=fussy,
            concurrency=4,
        )


# -- the output --------------------------------------------------------------------------


def test_a_full_disk_stops_the_job_at_once_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(_requests(500))
    code, _, err = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", "/dev/full")
    assert code == 1
    assert "cannot write the output '/dev/full': No space left on device" in err
    assert "Traceback" not in err
    with pytest.raises(OutputError, match="No space left"):
        run_batch(str(tmp_path / "in.jsonl"), CATALOG, "/dev/full", overwrite=True)


def test_a_full_disk_then_resume_writes_every_row_once(tmp_path: Path) -> None:
    """A tmpfs too small for the job: it stops; with room again, --resume completes it."""
    if os.geteuid() != 0 or subprocess.run(["which", "mount"], check=False).returncode:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        (tmp_path / "in.jsonl").write_text(_requests(600))
        out = disk / "out.jsonl"
        code, _, err = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", str(out))
        assert code == 1 and "No space left on device" in err and "--resume" in err
        written = rows(out)  # every line whole: the part of a row that failed is cut off
        assert 0 < len(written) < 600
        moved = tmp_path / "out.jsonl"
        moved.write_bytes(out.read_bytes())
        code, _, err = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", str(moved), "--resume")
        assert code == 0, err
        ids = [row["id"] for row in rows(moved)]
        assert sorted(ids) == list(range(600))
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("missing/out.jsonl", "No such file or directory"),
        (".", "Is a directory"),
    ],
)
def test_an_output_that_cannot_be_opened_is_one_line(tmp_path: Path, where: str, says: str) -> None:
    (tmp_path / "in.jsonl").write_text(_requests(2))
    code, _, err = batch(tmp_path, str(tmp_path / "in.jsonl"), "-o", str(tmp_path / where))
    assert code == 2 and says in err and err.count("\n") == 1


def test_a_second_job_on_the_same_output_is_refused_at_once(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(_requests(200))
    slow = [{**CATALOG[0], "rateLimit": {"requestsPerMinute": 3000}}]  # 200 rows in ~4 s
    (tmp_path / "catalog.json").write_text(json.dumps(slow))
    out = tmp_path / "out.jsonl"
    command = [*METASYNC, "batch", str(tmp_path / "in.jsonl"), "-c", str(tmp_path / "catalog.json")]
    first = subprocess.Popen([*command, "-o", str(out), "-q"])
    try:
        deadline = time.monotonic() + 30
        while not (out.exists() and out.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.05)
        for extra in ([], ["--resume"], ["--overwrite"], ["--retry-failed"]):
            second = subprocess.run(
                [*command, "-o", str(out), *extra],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert second.returncode == 2, (extra, second.stderr)
            assert f"output {str(out)!r} is in use by another batch job" in second.stderr
        assert first.wait(timeout=60) == 0
    finally:
        first.kill()
    ids = [row["id"] for row in rows(out)]
    assert sorted(ids) == list(range(200))  # whole, once each
    with pytest.raises(OutputLockedError), open(out) as held:
        import fcntl

        fcntl.flock(held, fcntl.LOCK_EX)
        run_batch(str(tmp_path / "in.jsonl"), CATALOG, out, resume=True)


def test_a_reader_that_closes_the_pipe_ends_the_job_quietly(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(_requests(1000))
    (tmp_path / "catalog.json").write_text(json.dumps(CATALOG))
    command = " ".join(
        [*METASYNC, "batch", str(tmp_path / "in.jsonl"), "-c", str(tmp_path / "catalog.json")]
    )
    done = subprocess.run(
        ["bash", "-c", f"{command} | head -2; echo ${{PIPESTATUS[0]}} >&2"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert len(done.stdout.splitlines()) == 2
    assert done.stderr.strip().splitlines()[-1] in ("0", "141")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_interrupted_jobs_write_their_summary_and_say_how_to_go_on(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(_requests(400))
    slow = [{**CATALOG[0], "rateLimit": {"requestsPerMinute": 600}}]
    (tmp_path / "catalog.json").write_text(json.dumps(slow))
    job = subprocess.Popen(
        [
            *METASYNC,
            "batch",
            str(tmp_path / "in.jsonl"),
            "-c",
            str(tmp_path / "catalog.json"),
            "-o",
            str(tmp_path / "out.jsonl"),
            "--summary",
            str(tmp_path / "summary.json"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    job.send_signal(2)  # Ctrl-C
    _, err = job.communicate(timeout=60)
    assert job.returncode == 130
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["rows"] == len(rows(tmp_path / "out.jsonl"))
    assert "run again with --resume" in err and "Traceback" not in err


# -- rate limits -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stand_in", [("--latency", "0.2", "--max-in-flight", "8", "--retry-after", "0")], indirect=True
)
def test_a_burst_of_429s_is_one_pause_not_one_per_refusal(
    tmp_path: Path, stand_in: StandIn
) -> None:
    """64 calls at a server that takes 8 at once: each burst of 56 refusals pauses the
    model once, for the first delay, so the job keeps going at about the server's pace."""
    started = time.monotonic()
    summary = run_batch(
        ({"id": i, "user": f"id-{i}"} for i in range(100)),
        [_openai(stand_in.url)],
        None,
        concurrency=64,
        rate_limit_retries=100,
        registry=OPENAI,
    )
    took = time.monotonic() - started
    assert summary.failed == 0 and summary.rows == 100
    # 13 rounds of 8 at 0.2 s plus a 0.5 s pause each is ~9 s; doubling per refusal hit
    # the 30 s cap after the first burst (44 of 100 rows after 90 s).
    assert took < 30, took


@pytest.mark.parametrize("stand_in", [("--storm", "1000000", "--retry-after", "0")], indirect=True)
def test_a_server_that_always_says_429_ends_the_job_soon(tmp_path: Path, stand_in: StandIn) -> None:
    started = time.monotonic()
    summary = run_batch(
        ({"id": i, "user": f"id-{i}"} for i in range(100)),
        [_openai(stand_in.url)],
        None,
        concurrency=100,
        rate_limit_retries=3,
        registry=OPENAI,
    )
    assert summary.failed == 100
    assert set(summary.models["gpt"].failures) == {"RateLimitError"}
    # Every row tried four times, all together: four pauses growing per pause
    # (0.5 + 1 + 2 + 4 s); before, each refusal doubled it to the 30 s cap (0 rows in 300 s).
    assert time.monotonic() - started < 30
    refused = [line for line in stand_in.log.read_text().splitlines() if " 429 " in line]
    assert len(refused) == 400


def test_limits_that_could_never_run_are_refused() -> None:
    for block in ({"requestsPerMinute": 1e-300}, {"tokensPerMinute": 0.5}):
        with pytest.raises(msl.ConfigurationError) as info:
            msl.prepare_model({**CATALOG[0], "rateLimit": block})
        assert info.value.fields == (f"rateLimit.{next(iter(block))}",)
        assert "must be a number from" in str(info.value)
    msl.prepare_model({**CATALOG[0], "rateLimit": {"requestsPerMinute": 1 / 1440}})


def test_a_job_waiting_on_a_limit_says_so(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text(_requests(2))
    slow = [{**CATALOG[0], "rateLimit": {"requestsPerMinute": 10}}]  # 6 s between calls
    code, _, err = batch(
        tmp_path, str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"), catalog=slow
    )
    assert code == 0
    assert "batch: model 'echo' waits 6s for its rateLimit" in err


def test_progress_notes_go_under_a_bar_at_a_terminal() -> None:
    pytest.importorskip("tqdm")
    from metasync_llm.batch import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    progress = Progress(terminal, total=3)
    progress.note("batch: model 'x' waits 9s for a 429 pause")
    progress.close()
    assert "waits 9s for a 429 pause" in terminal.getvalue()


def test_duplicates_are_found_among_many_ids_and_resume_skips_every_done_one(
    tmp_path: Path,
) -> None:
    """The job keeps its ids compactly (a table of hashes that grows): every id counts."""
    count = 30_000
    source = tmp_path / "in.jsonl"
    source.write_text(_requests(count) + lines({"id": 7, "model": "echo", "user": "again"}))
    out = tmp_path / "out.jsonl"
    summary = run_batch(str(source), CATALOG, out, concurrency=64)
    errors = [row for row in rows(out) if row["error"]]
    assert summary.rows == count + 1 and [e["error"]["type"] for e in errors] == ["DuplicateId"]
    assert errors[0]["line"] == count + 1
    source.write_text(source.read_text() + lines({"id": "new", "model": "echo", "user": "n"}))
    summary = run_batch(str(source), CATALOG, out, resume=True)
    assert summary.rows - summary.resumed == 1
    assert rows(out)[-1]["id"] == "new"
