"""``metasync-llm complete``: one completion (no ``--model``: the built-in offline test model)."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

from metasync_llm.cli import _tools
from metasync_llm.cli._common import (
    EXIT_OK,
    UsageError,
    chosen_target,
    load_json,
    sampling_options,
    summary,
)
from metasync_llm.cli._terminal import for_terminal
from metasync_llm.connector import complete_with_model, stream_with_model
from metasync_llm.result import CompletionResult


def add_parser(sub: Any) -> None:
    complete = sub.add_parser(
        "complete", help="run a completion (with no --model: the built-in offline test model)"
    )
    complete.add_argument(
        "prompt",
        nargs="?",
        metavar="PROMPT",
        help="user content; '-' or omitted reads standard input",
    )
    complete.add_argument(
        "-m",
        "--model",
        metavar="FILE",
        help="JSON file with a model document or a catalog (list) of them",
    )
    complete.add_argument("-n", "--name", help="the model to use from a catalog file")
    complete.add_argument("-s", "--system", default="", help="system prompt")
    sampling_options(complete)
    complete.add_argument(
        "--repair-json", action="store_true", help="mend JSON-shaped answers into valid JSON"
    )
    complete.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    complete.add_argument(
        "--json",
        action="store_true",
        help="print the whole result as JSON on stdout (with --stream: one JSON line per"
        " chunk, then the result)",
    )
    complete.add_argument(
        "-q", "--quiet", action="store_true", help="no usage/time/cost summary on stderr"
    )
    complete.add_argument(
        "--progress", action="store_true", help="show elapsed time on stderr while waiting"
    )
    complete.add_argument(
        "--messages",
        metavar="FILE",
        help="JSON file with a conversation (a list of {role, content} turns); PROMPT, if"
        " given, is the next user turn",
    )
    complete.add_argument(
        "--schema",
        metavar="FILE",
        help="JSON Schema file: the answer must be JSON valid against it (printed validated)",
    )
    complete.add_argument(
        "--stop", action="append", metavar="SEQ", help="stop sequence (repeat for several)"
    )
    complete.add_argument(
        "--attach",
        action="append",
        metavar="PATH",
        help="an image (PNG, JPEG, GIF, WebP) or PDF to send with the prompt (repeat for several)",
    )
    _tools.add_arguments(complete)


def run(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    """One completion, printed whole or as it arrives."""
    model = chosen_target(args)
    options = {**_call_options(args, stdin), **_tools.tool_arguments(args)}
    if args.stream:
        return _stream(args, model, options, out, err)
    if args.tool:
        if not isinstance(model, Mapping):
            raise UsageError("--tool runs through one model document, not a route")
        return _run_tools(args, model, options, out, err)
    with _Progress(err, args.progress):
        if isinstance(model, Mapping):
            result = complete_with_model(model, **options)
        else:  # a route
            result = model.complete(**options)
    if args.json:
        json.dump(_jsonable(result), out, ensure_ascii=False)
        out.write("\n")
        return EXIT_OK
    _print(result.text, out)
    _tools.print_calls(result, out)
    if not args.quiet:
        err.write(summary(result) + "\n")
    return EXIT_OK


def _run_tools(
    args: argparse.Namespace,
    model: Mapping[str, Any],
    options: dict[str, Any],
    out: TextIO,
    err: TextIO,
) -> int:
    """``--tool``: the loop runs the functions until the model answers in text."""
    from metasync_llm.tools import run_tools  # noqa: PLC0415 - tool runs only

    system = options.pop("system_prompt")
    with _Progress(err, args.progress):
        run = run_tools(
            model,
            system,
            max_rounds=args.max_rounds,
            tool_timeout=args.tool_timeout,
            **options,
        )
    if args.json:
        json.dump(_tools.jsonable_run(run, _jsonable(run.result)), out, ensure_ascii=False)
        out.write("\n")
        return EXIT_OK
    _print(run.text, out)
    if not args.quiet:
        totals = "/".join("?" if n is None else str(n) for n in run.usage)
        err.write(f"{run.rounds} rounds, tokens in/out/total {totals} over all rounds\n")
        err.write(summary(run.result) + "\n")
    return EXIT_OK


def _print(text: str, out: TextIO) -> None:
    if not text:
        return
    out.write(for_terminal(out)(text))
    if not text.endswith("\n"):
        out.write("\n")
    out.flush()


def _read_prompt(args: argparse.Namespace, stdin: TextIO) -> str:
    if args.prompt is not None and args.prompt != "-":
        return str(args.prompt)
    if args.prompt == "-" or not stdin.isatty():
        return stdin.read()
    raise UsageError("give the prompt as an argument, or pipe it on standard input")


class _Progress:
    """Opt-in elapsed-time display on stderr while a call runs (the seed's console timer)."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self._stream, self._enabled = stream, enabled
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Progress:
        if self._enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._enabled:
            self._done.set()
            self._thread.join()
            self._stream.write("\r\033[K")
            self._stream.flush()

    def _run(self) -> None:
        start = time.monotonic()
        while not self._done.wait(0.1):
            self._stream.write(f"\rwaiting for the model... {time.monotonic() - start:.1f}s")
            self._stream.flush()


def _call_options(args: argparse.Namespace, stdin: TextIO) -> dict[str, Any]:
    """The connector's arguments from ``complete``'s options (prompt, conversation, schema)."""
    options: dict[str, Any] = {
        "system_prompt": args.system,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "repair_json": args.repair_json,
        "stop": args.stop or None,
        "reasoning": args.reasoning,
    }
    if args.attach:
        from metasync_llm.attachments import Attachment  # noqa: PLC0415 - --attach only

        options["attachments"] = [Attachment.from_path(path) for path in args.attach]
    if args.schema is not None:
        options["schema"] = load_json(args.schema, "schema")
    if args.messages is None:
        options["user_content"] = _read_prompt(args, stdin)
        if not options["user_content"].strip() and not args.system:
            raise UsageError("the prompt is empty: give PROMPT, or pipe it on standard input")
        return options
    turns = load_json(args.messages, "messages")
    if not isinstance(turns, list):
        raise UsageError(f"messages file {args.messages!r} must hold a list of turns")
    if args.prompt is not None:  # the next user turn, after the conversation so far
        turns = [*turns, {"role": "user", "content": _read_prompt(args, stdin)}]
    options["messages"] = turns
    return options


def _jsonable(result: CompletionResult) -> dict[str, Any]:
    data = result.to_dict()
    if result.data is not None and not isinstance(result.data, dict | list | str | int | float):
        data["data"] = json.loads(result.text)  # a model instance: its JSON
    return data


def _stream(
    args: argparse.Namespace,
    model: Any,
    options: dict[str, Any],
    out: TextIO,
    err: TextIO,
) -> int:
    """Print chunks as they arrive (``--json``: one JSON line per chunk, then the result);
    ``model`` is a document or a route's :class:`~metasync_llm.Router`."""
    shown = for_terminal(out)
    routed = not isinstance(model, Mapping)
    opened = model.stream(**options) if routed else stream_with_model(model, **options)
    with opened as stream:
        for chunk in stream:
            out.write(
                json.dumps({"chunk": chunk}, ensure_ascii=False) + "\n"
                if args.json
                else shown(chunk)
            )
            out.flush()
    result = stream.result
    if args.json:
        json.dump({"result": _jsonable(result)}, out, ensure_ascii=False)
        out.write("\n")
        return EXIT_OK
    if not result.text.endswith("\n"):
        out.write("\n")
    out.flush()
    if not args.quiet:
        err.write(summary(result) + "\n")
    return EXIT_OK
