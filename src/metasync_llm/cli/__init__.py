"""The ``metasync-llm`` command: list SDKs, validate model documents, run completions.

Exit codes: 0 success; 1 the call failed (provider error, truncated or empty answer,
invalid documents for ``validate``); 2 bad usage or configuration (unreadable file,
invalid model document, unknown SDK, missing key); 130 interrupted; 141 standard
output closed by its reader (``| head``).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from metasync_llm import __version__
from metasync_llm.cli._terminal import for_terminal
from metasync_llm.connector import complete_with_model, stream_with_model, validate_model
from metasync_llm.errors import (
    ConfigurationError,
    MetasyncLLMError,
    TruncatedResponseError,
)
from metasync_llm.registry import ALLOW_ENV, SDKRegistry, environment_summary
from metasync_llm.result import CompletionResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: A closed standard output (``metasync-llm ... | head``): 128 + SIGPIPE, as a shell reports.
EXIT_BROKEN_PIPE = 141

#: The model ``complete`` uses when none is given: the offline ``test`` SDK.
BUILTIN_TEST_MODEL: dict[str, Any] = {
    "name": "test",
    "sdk": "test",
    "deployment": "test-model",
    "minTemperature": 0,
    "maxTemperature": 2,
    "cost": {"tokens": 1000, "currency": "USD", "input": 0.001, "output": 0.002},
}


class UsageError(Exception):
    """A problem with the command line or its files (exit code 2)."""


def load_documents(path: str) -> list[Any]:
    """The model documents in a JSON file: one object, or a list of them (a catalog)."""
    data = load_json(path, "model")
    if isinstance(data, list):
        if not data:
            raise UsageError(f"model file {path!r} holds an empty list: no model documents")
        return data
    return [data]


def select_model(documents: Sequence[Any], name: str | None, path: str) -> Mapping[str, Any]:
    """Pick the document named ``name`` (or the only one) from a file's documents."""
    names = [d.get("name") for d in documents if isinstance(d, Mapping)]
    if name is None:
        if len(documents) == 1:
            only = documents[0]
            if not isinstance(only, Mapping):
                raise UsageError(f"model file {path!r} must hold a JSON object or a list of them")
            return only
        raise UsageError(
            f"model file {path!r} holds {len(documents)} models; choose one with --name:"
            f" {', '.join(str(n) for n in names)}"
        )
    for doc in documents:
        if isinstance(doc, Mapping) and doc.get("name") == name:
            return doc
    raise UsageError(
        f"no model named {name!r} in {path!r}; it has: {', '.join(str(n) for n in names)}"
    )


def _cmd_sdks(args: argparse.Namespace, out: TextIO) -> int:
    found = SDKRegistry.discovery()
    env = environment_summary()
    if args.json:
        json.dump(
            {
                "sdks": [
                    {
                        "name": n,
                        "distribution": s.info.distribution,
                        "version": s.info.version,
                        "entry_point": s.info.target,
                    }
                    for n, s in sorted(found.sdks.items())
                ],
                "failures": [
                    {
                        "name": f.plugin.name,
                        "distribution": f.plugin.distribution,
                        "version": f.plugin.version,
                        "entry_point": f.plugin.target,
                        "kind": f.kind,
                        "reason": f.reason,
                    }
                    for f in found.failures
                ],
                "observers": [
                    {
                        "name": n,
                        "distribution": i.distribution,
                        "version": i.version,
                        "entry_point": i.target,
                    }
                    for n, i in sorted(found.observers.items())
                ],
                "disabled": [
                    {"name": i.name, "distribution": i.distribution, "version": i.version}
                    for i in found.disabled
                ],
                "allow_list": sorted(found.allow) if found.allow is not None else None,
                "environment": env,
            },
            out,
            indent=2,
        )
        out.write("\n")
    else:
        rows = [("SDK", "DISTRIBUTION", "VERSION", "ENTRY POINT")] + [
            (n, s.info.distribution or "-", s.info.version or "-", s.info.target)
            for n, s in sorted(found.sdks.items())
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for row in rows:
            out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)))
            out.write(f"  {row[3]}\n")
        if not found.sdks:
            out.write("(no SDK loaded)\n")
        if found.observers:
            out.write("\nObservers:\n")
            for name, info in sorted(found.observers.items()):
                out.write(f"  {name} ({info.origin})\n")
        if found.failures:
            out.write(f"\nFailed to load ({len(found.failures)}):\n")
            for failure in found.failures:
                out.write(
                    f"  {failure.plugin.name} ({failure.plugin.origin}) [{failure.kind}]:"
                    f" {failure.reason}\n"
                )
        if found.disabled:
            allowed = ",".join(sorted(found.allow or ()))
            out.write(f"\nNot loaded, not in {ALLOW_ENV}={allowed}:\n")
            for info in found.disabled:
                out.write(f"  {info.name} ({info.origin})\n")
        out.write(f"\nPython: {env['python']} ({env['version']}, prefix {env['prefix']})\n")
    return EXIT_FAILED if args.check and found.failures else EXIT_OK


def _cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    documents = load_documents(args.model_file)
    report = []
    for index, doc in enumerate(documents):
        name = doc.get("name") if isinstance(doc, Mapping) else None
        label = str(name) if name else f"document #{index + 1}"
        try:
            settings = validate_model(doc)
        except (ConfigurationError, MetasyncLLMError) as exc:
            report.append(
                {
                    "model": label,
                    "sdk": getattr(exc, "sdk", None),
                    "valid": False,
                    "error": str(exc),
                    "fields": list(getattr(exc, "fields", ())),
                }
            )
        else:
            report.append(
                {"model": label, "sdk": settings.sdk, "valid": True, "error": None, "fields": []}
            )
    if args.json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        for row in report:
            sdk = f" ({row['sdk']})" if row["sdk"] else ""
            if row["valid"]:
                out.write(f"ok       {row['model']}{sdk}\n")
            else:
                out.write(f"invalid  {row['model']}{sdk}: {row['error']}\n")
        bad = sum(not r["valid"] for r in report)
        out.write(f"{len(report) - bad} valid, {bad} invalid\n")
    return EXIT_FAILED if any(not r["valid"] for r in report) else EXIT_OK


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


def summary(result: CompletionResult) -> str:
    """One line of what a call took: time (client setup apart), tokens, cost, notes."""

    def n(value: int | None) -> str:
        return "?" if value is None else str(value)

    first = result.time_to_first_chunk
    setup = result.setup or 0.0
    call = f"{result.elapsed - setup:.3f}s"
    if first is not None:
        call += f" (first chunk {first - setup:.3f}s)"
    if result.setup:
        call += f" + {setup:.3f}s client setup (first use of the SDK)"
    parts = [
        f"{result.sdk} model {result.model}",
        call,
        f"tokens {n(result.prompt_tokens)} in / {n(result.completion_tokens)} out /"
        f" {n(result.total_tokens)} total",
    ]
    if result.cost is not None:
        total = "?" if result.cost.total is None else f"{result.cost.total:.6f}"
        parts.append(f"cost {total} {result.cost.currency or ''}".rstrip())
    if result.truncated:
        parts.append("answer cut at max_tokens")
    if result.json_repaired:
        parts.append("JSON repaired")
    return " · ".join(parts)


def _model(args: argparse.Namespace) -> Mapping[str, Any]:
    """The model ``--model``/``--name`` pick, or the built-in ``test`` model."""
    if args.model is None:
        if args.name is not None:
            raise UsageError("--name selects a model from --model FILE; give --model too")
        return BUILTIN_TEST_MODEL
    return select_model(load_documents(args.model), args.name, args.model)


def load_json(path: str, what: str) -> Any:
    """The JSON value in a file; a :class:`UsageError` that says what is wrong with it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8-sig"))  # a BOM is fine
    except FileNotFoundError:
        raise UsageError(f"{what} file {path!r} does not exist") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} file {path!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} file {path!r} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{what} file {path!r} is not valid JSON: {exc.msg} at line {exc.lineno}"
            f" column {exc.colno}"
        ) from None
    except RecursionError:
        raise UsageError(f"{what} file {path!r} is nested too deeply to read") from None


def _call_options(args: argparse.Namespace, stdin: TextIO) -> dict[str, Any]:
    """The connector's arguments from ``complete``'s options (prompt, conversation, schema)."""
    options: dict[str, Any] = {
        "system_prompt": args.system,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "repair_json": args.repair_json,
        "stop": args.stop or None,
    }
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


def _cmd_complete(args: argparse.Namespace, out: TextIO, err: TextIO, stdin: TextIO) -> int:
    model = _model(args)
    options = _call_options(args, stdin)
    if args.stream:
        return _stream(args, model, options, out, err)
    with _Progress(err, args.progress):
        result = complete_with_model(model, **options)
    if args.json:
        json.dump(_jsonable(result), out, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(for_terminal(out)(result.text))
        if not result.text.endswith("\n"):
            out.write("\n")
        out.flush()
        if not args.quiet:
            err.write(summary(result) + "\n")
    return EXIT_OK


def _jsonable(result: CompletionResult) -> dict[str, Any]:
    data = result.to_dict()
    if result.data is not None and not isinstance(result.data, dict | list | str | int | float):
        data["data"] = json.loads(result.text)  # a model instance: its JSON
    return data


def _stream(
    args: argparse.Namespace,
    model: Mapping[str, Any],
    options: dict[str, Any],
    out: TextIO,
    err: TextIO,
) -> int:
    """Print chunks as they arrive (``--json``: one JSON line per chunk, then the result)."""
    shown = for_terminal(out)
    with stream_with_model(model, **options) as stream:
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


def _cmd_new_sdk(args: argparse.Namespace, out: TextIO) -> int:
    from metasync_llm._plugins._scaffold import BEGIN, write_plugin  # noqa: PLC0415 - this command only

    try:
        root = write_plugin(args.name, Path(args.dir), force=args.force)
    except (ValueError, FileExistsError, NotADirectoryError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        where = exc.filename or args.dir
        raise UsageError(f"cannot write the plugin into {where}: {exc.strerror or exc}") from None
    out.write(
        f"wrote {root}\n"
        f"next: write the API call in src/.../plugin.py (look for '{BEGIN}'), then\n"
        f"  pip install -e '{root}[test]'\n"
        f"  metasync-llm sdks            # lists {args.name}\n"
        f"  pytest {root}                # the conformance suite\n"
    )
    return EXIT_OK


def _cmd_usage(args: argparse.Namespace, out: TextIO) -> int:
    import os  # noqa: PLC0415

    from metasync_llm import ledger  # noqa: PLC0415 - this command only
    from metasync_llm.registry import LEDGER_ENV  # noqa: PLC0415

    path = args.db or os.environ.get(LEDGER_ENV)
    if not path:
        raise UsageError(f"no ledger: give --db PATH or set {LEDGER_ENV}")
    try:
        since = ledger.parse_since(args.since) if args.since else None
        rows = ledger.usage(path, since=since, by=args.by)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        json.dump([row.to_dict() for row in rows], out, indent=2)
        out.write("\n")
    else:
        out.write(ledger.render(rows, args.by) + "\n")
    return EXIT_OK


def _sampling_options(command: argparse.ArgumentParser) -> None:
    """``-t/--temperature`` and ``--max-tokens``, as ``complete`` and ``chat`` take them."""
    command.add_argument(
        "-t",
        "--temperature",
        type=float,
        default=1.0,
        metavar="TEMP",
        help="temperature, clamped to the model's limits (default 1)",
    )
    command.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        metavar="N",
        help="maximum tokens per answer (default 4096, capped by maxToken)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``metasync-llm``."""
    parser = argparse.ArgumentParser(
        prog="metasync-llm",
        description="Call LLM providers through metasync-llm SDK plugins.",
        epilog="Exit codes: 0 ok, 1 call failed or documents invalid, 2 usage or"
        " configuration error, 130 interrupted, 141 output closed by its reader.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sdks = sub.add_parser("sdks", help="list installed SDK plugins and load errors")
    sdks.add_argument("--json", action="store_true", help="print JSON for scripts")
    sdks.add_argument("--check", action="store_true", help="exit 1 when any plugin failed to load")

    validate = sub.add_parser("validate", help="check model documents in a JSON file")
    validate.add_argument(
        "model_file",
        metavar="FILE",
        help="a JSON file with one model document or a list of them",
    )
    validate.add_argument("--json", action="store_true", help="print JSON for scripts")

    new_sdk = sub.add_parser("new-sdk", help="write a complete distribution for a new SDK plugin")
    new_sdk.add_argument("name", metavar="NAME", help="the SDK identifier, e.g. MySdk")
    new_sdk.add_argument("--dir", default=".", help="where to write it (default: here)")
    new_sdk.add_argument("--force", action="store_true", help="overwrite an existing folder")

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
    _sampling_options(complete)
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

    chat = sub.add_parser(
        "chat",
        help="an interactive conversation (piped input: one turn per line)",
        description="Talk to a model turn by turn: answers stream to stdout, usage and cost"
        " per turn go to stderr. Type exit (or Ctrl-D) to leave; Ctrl-C stops the current"
        " answer only. With piped input, each line is a user turn.",
    )
    chat.add_argument("-m", "--model", metavar="FILE", help="JSON file with a model or catalog")
    chat.add_argument("-n", "--name", help="the model to use from a catalog file")
    chat.add_argument("-s", "--system", default="", help="system prompt")
    _sampling_options(chat)
    chat.add_argument("-q", "--quiet", action="store_true", help="no summary per turn")

    from metasync_llm.cli._batch import add_parser  # noqa: PLC0415 - its own module

    add_parser(sub)

    usage = sub.add_parser(
        "usage",
        help="calls, failures, tokens, cost and latency from the usage ledger",
        description="Report the calls recorded in the usage ledger (METASYNC_LLM_LEDGER).",
    )
    usage.add_argument("--db", metavar="PATH", help="the ledger (default: $METASYNC_LLM_LEDGER)")
    usage.add_argument(
        "--since", metavar="WHEN", help="only calls since a date, a time, or an age (7d, 12h)"
    )
    usage.add_argument(
        "--by", choices=("model", "sdk", "day"), default="model", help="group by (default model)"
    )
    usage.add_argument("--json", action="store_true", help="print JSON for scripts")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run the CLI; returns the exit code."""
    out, err, inp = stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin
    args = build_parser().parse_args(argv)
    if args.command in ("complete", "chat", "batch") and not getattr(args, "json", False):
        _watch_the_ledger(err)
    try:
        if args.command == "sdks":
            return _cmd_sdks(args, out)
        if args.command == "validate":
            return _cmd_validate(args, out)
        if args.command == "new-sdk":
            return _cmd_new_sdk(args, out)
        if args.command == "chat":
            from metasync_llm.cli._chat import run_chat  # noqa: PLC0415 - this command only

            return run_chat(_model(args), args, out, err, inp)
        if args.command == "usage":
            return _cmd_usage(args, out)
        if args.command == "batch":
            from metasync_llm.cli._batch import run as run_batch_command  # noqa: PLC0415

            return run_batch_command(args, out, err, inp)
        return _cmd_complete(args, out, err, inp)
    except KeyboardInterrupt:
        if getattr(args, "json", False):
            _fail(args, err, out, KeyboardInterrupt("interrupted"), EXIT_INTERRUPTED)
        else:
            err.write("metasync-llm: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as Unix tools do.
        _drop_stdout(out)
        return EXIT_BROKEN_PIPE
    except UsageError as exc:
        return _fail(args, err, out, exc, EXIT_USAGE)
    except ConfigurationError as exc:
        return _fail(args, err, out, exc, EXIT_USAGE)
    except TruncatedResponseError as exc:
        if exc.result is not None and not args.json and not args.stream:
            out.write(for_terminal(out)(exc.result.raw_text) + "\n")
        return _fail(args, err, out, exc, EXIT_FAILED)
    except MetasyncLLMError as exc:
        if getattr(args, "stream", False) and exc.partial_text and not args.json:
            out.write("\n")  # end the partial answer's line before the error
        return _fail(args, err, out, exc, EXIT_FAILED)


def _watch_the_ledger(err: TextIO) -> None:
    """With ``METASYNC_LLM_LEDGER`` set, say in one line on stderr when it cannot record
    this command's calls: at once if it cannot be opened, else when a write fails."""
    import os  # noqa: PLC0415

    from metasync_llm.registry import LEDGER_ENV  # noqa: PLC0415

    path = os.environ.get(LEDGER_ENV)
    if not path:
        return
    from metasync_llm import ledger  # noqa: PLC0415 - only with a ledger

    problem = ledger.check(path)
    if problem is not None:
        err.write(
            f"metasync-llm: usage ledger {path!r} ({LEDGER_ENV}) cannot be written ({problem});"
            " calls are not recorded\n"
        )
        return
    ledger.Ledger.on_trouble = lambda message: err.write(f"metasync-llm: {message}\n")


def _drop_stdout(out: TextIO) -> None:
    """Point the process's stdout at /dev/null after its reader closed it: the interpreter
    flushes stdout at exit, and would print a BrokenPipeError traceback there."""
    if out is not sys.stdout:
        return
    import os  # noqa: PLC0415 - this rare path only

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # no file descriptor to replace (an embedded stdout): nothing will flush it


def _fail(args: argparse.Namespace, err: TextIO, out: TextIO, exc: BaseException, code: int) -> int:
    """Report ``exc`` once: as JSON on stdout with ``--json``, else as one line on stderr."""
    if getattr(args, "json", False):
        json.dump(
            {
                "error": {
                    "type": type(exc).__name__,
                    "message": str(exc),
                    "sdk": getattr(exc, "sdk", None),
                    "model": getattr(exc, "model", None),
                    "status": getattr(exc, "status", None),
                    "request_id": getattr(exc, "request_id", None),
                    "fields": list(getattr(exc, "fields", ())),
                    "attempts": getattr(exc, "attempts", None),
                    "partial_text": getattr(exc, "partial_text", None),
                }
            },
            out,
        )
        out.write("\n")
        return code
    err.write(f"metasync-llm: error: {exc}\n")
    return code
