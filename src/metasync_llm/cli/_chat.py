"""``metasync-llm chat``: a conversation at the terminal, one turn at a time.

At a terminal: a prompt on stderr, the answer streamed to stdout, its usage and cost on
stderr; ``exit`` (or Ctrl-D) leaves, Ctrl-C stops the answer being written and keeps
the conversation (without that turn). With piped input, each line is a user turn and no
prompt is shown. A turn that fails is reported and left out of the conversation.
``/attach PATH`` adds an image or PDF to the next turn.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from metasync_llm.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    chosen_model,
    sampling_options,
    summary,
)
from metasync_llm.cli._terminal import for_terminal
from metasync_llm.connector import prepare_model, stream_with_model
from metasync_llm.errors import ConfigurationError, MetasyncLLMError

QUIT = frozenset({"exit", "quit", ":q"})


def add_parser(sub: Any) -> None:
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
    sampling_options(chat)
    chat.add_argument("-q", "--quiet", action="store_true", help="no summary per turn")


def run(args: argparse.Namespace, out: TextIO, err: TextIO, inp: TextIO) -> int:
    """Hold the conversation with the model ``--model``/``--name`` pick."""
    return run_chat(chosen_model(args), args, out, err, inp)


def run_chat(
    model: Mapping[str, Any], args: argparse.Namespace, out: TextIO, err: TextIO, inp: TextIO
) -> int:
    """Hold the conversation; returns the exit code (1 if a piped turn failed)."""
    interactive = inp.isatty()
    prepared = prepare_model(model)  # a bad document stops here, before any turn
    turns: list[dict[str, Any]] = []
    attached: list[Any] = []  # /attach PATH: for the next turn
    failed = False
    if interactive:
        err.write(f"chat with {prepared.name} ({prepared.sdk}); exit or Ctrl-D to leave\n")
    while True:
        line = _read_turn(inp, err, interactive)
        if line is None:
            break
        if not line.strip():
            continue
        if line.strip() in QUIT and interactive:
            break
        if line.startswith("/attach "):
            from metasync_llm.attachments import Attachment  # noqa: PLC0415 - /attach only

            try:
                attached.append(Attachment.from_path(line[len("/attach ") :].strip()))
            except ConfigurationError as exc:
                err.write(f"metasync-llm: error: {exc}\n")
                failed = True
                continue
            err.write(f"[attached {attached[-1].describe()} to the next turn]\n")
            continue
        turn = {"role": "user", "content": [line, *attached] if attached else line}
        answer = _answer(prepared, args, [*turns, turn], out, err)
        if answer is None:
            failed = True
            continue
        attached = []
        turns += [turn, {"role": "assistant", "content": answer}]
    if interactive:
        err.write("\n")
    return EXIT_FAILED if failed and not interactive else EXIT_OK


def _read_turn(inp: TextIO, err: TextIO, interactive: bool) -> str | None:
    """The next user turn, or ``None`` at the end of input (Ctrl-D).

    At the process's own terminal, ``input()`` with ``readline`` loaded reads it: arrow
    keys edit the line and recall earlier turns, instead of reaching the model as escapes.
    """
    editing = interactive and inp is sys.stdin and _readline()
    while True:
        try:
            if editing:
                try:
                    return input("> ")
                except EOFError:
                    return None
            if interactive:
                err.write("> ")
                err.flush()
            line = inp.readline()
        except KeyboardInterrupt:  # at the prompt, Ctrl-C clears the line
            err.write("\n")
            continue
        return line.rstrip("\n") if line else None


def _readline() -> bool:
    """Load ``readline`` (line editing and history for ``input()``), where Python has it."""
    try:
        import readline  # noqa: F401, PLC0415 - importing it is what turns it on
    except ImportError:  # Windows without pyreadline: plain lines
        return False
    return True


def _answer(
    model: Any, args: argparse.Namespace, turns: list[dict[str, Any]], out: TextIO, err: TextIO
) -> str | None:
    """Stream one answer; its text, or ``None`` when it failed or was interrupted."""
    stream = stream_with_model(
        model,
        args.system,
        messages=turns,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        reasoning=args.reasoning,
    )
    shown = for_terminal(out)
    try:
        with stream:
            for chunk in stream:
                out.write(shown(chunk))
                out.flush()
    except KeyboardInterrupt:  # stop this answer, keep the conversation
        out.write("\n")
        err.write("[answer stopped; this turn is left out]\n")
        return None
    except ConfigurationError:
        raise  # the same for every turn: stop the session
    except MetasyncLLMError as exc:
        if stream.text:
            out.write("\n")
        err.write(f"metasync-llm: error: {exc}\n")
        return None
    result = stream.result
    if not result.text.endswith("\n"):
        out.write("\n")
    out.flush()
    if not args.quiet:
        err.write(summary(result) + "\n")
    return result.text
