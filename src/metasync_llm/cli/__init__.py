"""The ``metasync-llm`` command: list SDKs, validate model documents, run completions.

One module per command (``_complete``, ``_chat``, ``_batch``, ``_sdks``, ``_validate``,
``_usage``, ``_new_sdk``), each with ``add_parser(sub)`` and ``run(args, out, err, inp)``;
what they share is in the leaf ``_common``. This module only parses, dispatches and turns
errors into exit codes.

Exit codes: 0 success; 1 the call failed (provider error, truncated or empty answer,
invalid documents for ``validate``); 2 bad usage or configuration (unreadable file,
invalid model document, unknown SDK, missing key); 130 interrupted; 141 standard
output closed by its reader (``| head``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from metasync_llm import __version__
from metasync_llm.cli import (
    _batch,
    _chat,
    _complete,
    _new_sdk,
    _sdks,
    _usage,
    _validate,
)
from metasync_llm.cli._common import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UsageError,
)
from metasync_llm.cli._terminal import for_terminal
from metasync_llm.errors import ConfigurationError, MetasyncLLMError, TruncatedResponseError

__all__ = ["build_parser", "main"]

#: Each command's module, in the order ``--help`` lists them.
COMMANDS = {
    "sdks": _sdks,
    "validate": _validate,
    "new-sdk": _new_sdk,
    "complete": _complete,
    "chat": _chat,
    "batch": _batch,
    "usage": _usage,
}


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
    for command in COMMANDS.values():
        command.add_parser(sub)
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
        return int(COMMANDS[args.command].run(args, out, err, inp))
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
