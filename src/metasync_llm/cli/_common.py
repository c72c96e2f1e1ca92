"""What every ``metasync-llm`` command shares: exit codes, the usage error, reading JSON
files and model documents, the one-line call summary, and the options two commands take.

A leaf: it imports no command module, so each command imports it without a cycle.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
    if len(result.route_attempts) > 1:
        moved = ", ".join(f"{a.model} ({a.error})" for a in result.route_attempts[:-1])
        parts.append(f"after {moved}")
    return " · ".join(parts)


def chosen_model(args: argparse.Namespace) -> Mapping[str, Any]:
    """The model ``--model``/``--name`` pick, or the built-in ``test`` model."""
    if args.model is None:
        if args.name is not None:
            raise UsageError("--name selects a model from --model FILE; give --model too")
        return BUILTIN_TEST_MODEL
    return select_model(load_documents(args.model), args.name, args.model)


def chosen_target(args: argparse.Namespace) -> Any:
    """What ``--model``/``--name`` pick: a model document, or a :class:`Router` when the
    entry is a route (``{"name", "route": [...], "strategy"}``) of the catalog."""
    model = chosen_model(args)
    if "route" not in model:
        return model
    from metasync_llm.routing import from_catalog  # noqa: PLC0415 - routes only

    return from_catalog(load_documents(args.model), str(model.get("name")))


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


def sampling_options(command: argparse.ArgumentParser) -> None:
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
    command.add_argument(
        "--reasoning",
        type=_reasoning,
        metavar="LEVEL",
        help="none, low, medium, high, or a token budget (default: the model's 'reasoning')",
    )


def _reasoning(value: str) -> str | int:
    return int(value) if value.isdigit() else value
