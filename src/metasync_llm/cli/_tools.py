"""``complete``'s tool options: ``--tool MODULE:FUNCTION`` runs the loop, ``--tools FILE``
offers definitions and prints the calls the model makes."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any, TextIO

from metasync_llm.cli._common import UsageError, load_json


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--tool",
        action="append",
        metavar="MODULE:FUNCTION",
        help="a Python function the model may call; the calls run and their results go back"
        " until the model answers (repeat for several)",
    )
    parser.add_argument(
        "--tools",
        metavar="FILE",
        help="JSON file with tool definitions ({name, description, parameters}); the calls"
        " the model asks for are printed, not run",
    )
    parser.add_argument(
        "--tool-choice", metavar="CHOICE", help="auto, none, required, or a tool's name"
    )
    parser.add_argument(
        "--max-rounds", type=int, default=8, metavar="N", help="with --tool: at most N calls"
    )
    parser.add_argument(
        "--tool-timeout",
        type=float,
        metavar="SECONDS",
        help="with --tool: how long a round's functions may run",
    )


def tool_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """``tools``/``tool_choice`` for the connector (empty without tool options)."""
    if args.tool and args.tools:
        raise UsageError("give --tool (functions to run) or --tools (definitions), not both")
    if args.tool and args.stream:
        raise UsageError("--stream does not run tools: leave out --stream or --tool")
    options: dict[str, Any] = {}
    if args.tool:
        options["tools"] = [_function(spec) for spec in args.tool]
    elif args.tools:
        tools = load_json(args.tools, "tools")
        if not isinstance(tools, list):
            raise UsageError(f"tools file {args.tools!r} must hold a list of tool definitions")
        options["tools"] = tools
    if args.tool_choice is not None:
        options["tool_choice"] = args.tool_choice
    return options


def _function(spec: str) -> Any:
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise UsageError(f"--tool {spec!r}: give MODULE:FUNCTION, e.g. weather:get_weather")
    if "" not in sys.path:  # a module beside the caller, as `python -m` finds it
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"--tool {spec!r}: cannot import {module_name!r}: {exc}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise UsageError(f"--tool {spec!r}: {module_name} has no function {name!r}")
    return function


def print_calls(result: Any, out: TextIO) -> None:
    """The calls of an answer, one line each (``--tools``: they are not run)."""
    for call in result.tool_calls:
        arguments = json.dumps(call.arguments, ensure_ascii=False)
        error = f"  # {call.error}" if call.error else ""
        out.write(f"tool call {call.id}: {call.name}({arguments}){error}\n")


def jsonable_run(run: Any, result: dict[str, Any]) -> dict[str, Any]:
    """``--json`` with ``--tool``: the last result, the transcript and the totals."""
    cost = run.cost
    return {
        "text": run.text,
        "rounds": run.rounds,
        "usage": list(run.usage),
        "cost": None if cost is None else {"currency": cost.currency, "total": cost.total},
        "messages": run.messages,
        "result": result,
    }
