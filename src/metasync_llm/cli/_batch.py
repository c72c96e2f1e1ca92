"""``metasync-llm batch``: a batch job from the command line (see the README, "Batch jobs")."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from metasync_llm.batch._output import OutputError
from metasync_llm.batch._progress import Progress
from metasync_llm.batch._requests import InputProblem
from metasync_llm.batch._summary import BatchSummary
from metasync_llm.cli._common import EXIT_FAILED, EXIT_OK, UsageError, load_json

#: Bad input lines shown one by one on stderr; the rest are counted (all are in the output).
SHOWN_PROBLEMS = 20


def add_parser(sub: Any) -> None:
    """The ``batch`` subcommand's arguments."""
    batch = sub.add_parser(
        "batch",
        help="run a JSON Lines file of requests through a catalog of models",
        description="Run every request of INPUT (JSON Lines: id, model, system, user or"
        " messages, temperature, max_tokens, schema, stop, metadata) through the catalog's"
        " models, many at a time within each model's rateLimit, writing one output line per"
        " request as it finishes. Exit 0 when every row succeeded, 1 when some failed.",
    )
    batch.add_argument("input", metavar="INPUT", help="the requests, JSON Lines; '-' for stdin")
    batch.add_argument(
        "-c", "--catalog", required=True, metavar="FILE", help="JSON list of model documents"
    )
    batch.add_argument(
        "-o", "--output", metavar="FILE", help="where rows go, JSON Lines (default: stdout)"
    )
    batch.add_argument("--resume", action="store_true", help="skip ids the output already has")
    batch.add_argument(
        "--retry-failed",
        action="store_true",
        help="also run again the ids that failed with a retryable error (implies --resume)",
    )
    batch.add_argument("--overwrite", action="store_true", help="replace an existing output")
    batch.add_argument(
        "--concurrency", type=int, default=64, metavar="N", help="calls in flight (default 64)"
    )
    batch.add_argument(
        "--rate-limit-retries",
        type=int,
        default=10,
        metavar="N",
        help="times a request is tried again after a 429 (default 10)",
    )
    batch.add_argument("--summary", metavar="FILE", help="write the summary as JSON to FILE")
    batch.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary")
    batch.add_argument(
        "--progress-interval",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds between progress lines when stderr is not a terminal (default 10)",
    )
    batch.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="where calls run (default local)",
    )
    batch.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="join this Ray cluster (default: start a local Ray for the job)",
    )
    batch.add_argument(
        "--ray-actors", type=int, default=2, metavar="N", help="Ray actors calling (default 2)"
    )
    batch.add_argument(
        "--ray-runtime-env", metavar="JSON", help="Ray runtime environment for the workers"
    )
    batch.add_argument(
        "--ray-forward-keys",
        action="store_true",
        help="send the catalog's key variables to the workers in the runtime environment",
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO, inp: TextIO) -> int:
    """Run the job; the exit code (0 every row succeeded, 1 some failed)."""
    documents = load_json(args.catalog, "catalog")
    if not isinstance(documents, list):
        documents = [documents]
    if args.concurrency < 1 or args.ray_actors < 1:
        raise UsageError("--concurrency and --ray-actors must be at least 1")
    if args.input == "-" and (args.resume or args.retry_failed) and args.output is None:
        raise UsageError("--resume needs --output FILE")
    requests: Any = inp if args.input == "-" else Path(args.input)
    if isinstance(requests, Path) and not requests.is_file():
        raise UsageError(f"input {args.input!r} is not a file")
    shown = _Problems(err, quiet=args.quiet)
    progress = None
    if not args.quiet:
        total = _count_lines(requests) if err.isatty() and isinstance(requests, Path) else None
        progress = Progress(err, total=total, interval=args.progress_interval)
    options: dict[str, Any] = {
        "on_problem": shown,
        "resume": args.resume or args.retry_failed,
        "retry_failed": args.retry_failed,
        "overwrite": args.overwrite,
        "rate_limit_retries": args.rate_limit_retries,
        "progress": progress,
    }
    output: Any = args.output if args.output is not None else out
    summary = BatchSummary()
    options["summary"] = summary
    try:
        if args.engine == "ray":
            from metasync_llm.batch._ray import run_on_ray  # noqa: PLC0415 - the Ray engine only

            runtime_env = json.loads(args.ray_runtime_env) if args.ray_runtime_env else None
            _quiet_ray()
            run_on_ray(
                requests,
                documents,
                output,
                address=args.ray_address,
                actors=args.ray_actors,
                runtime_env=runtime_env,
                forward_keys=args.ray_forward_keys,
                **options,
            )
        else:
            from metasync_llm.batch._runner import run_batch  # noqa: PLC0415

            run_batch(requests, documents, output, concurrency=args.concurrency, **options)
    except (KeyboardInterrupt, OutputError) as exc:
        # What the job did until then is reported as for a finished job, with how to go on.
        summary.interrupted = True
        _report(args, summary, shown, err)
        if isinstance(exc, OutputError):
            err.write(f"metasync-llm batch: {exc.strerror}\n")
            if args.output is not None:
                err.write(
                    "metasync-llm batch: the rows written are whole; free space, then"
                    " run the same command with --resume\n"
                )
            return EXIT_FAILED
        raise
    _report(args, summary, shown, err)
    return EXIT_FAILED if summary.failed else EXIT_OK


def _report(args: argparse.Namespace, summary: BatchSummary, shown: _Problems, err: TextIO) -> None:
    """The hidden-problems count, the ``--summary`` file and the summary on stderr."""
    shown.close()
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    if not args.quiet:
        err.write(summary.render() + "\n")


class _Problems:
    """Shows the first bad input lines on stderr, then counts the rest."""

    def __init__(self, err: TextIO, *, quiet: bool) -> None:
        self.err, self.quiet, self.count = err, quiet, 0

    def __call__(self, problem: InputProblem) -> None:
        self.count += 1
        if not self.quiet and self.count <= SHOWN_PROBLEMS:
            where = f"line {problem.line}" if problem.line is not None else "a request"
            self.err.write(f"metasync-llm batch: {where}: {problem.message}\n")

    def close(self) -> None:
        hidden = self.count - SHOWN_PROBLEMS
        if not self.quiet and hidden > 0:
            self.err.write(f"metasync-llm batch: {hidden} more bad lines (see the output)\n")


def _quiet_ray() -> None:
    """This command shows its own progress: no Ray Data bars or progress logs."""
    import logging  # noqa: PLC0415

    try:
        import ray.data  # noqa: PLC0415
    except ImportError:
        return  # run_on_ray says how to install it
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def _count_lines(path: Path) -> int | None:
    """The input's lines, for the ETA (a fast pass over the file's bytes)."""
    try:
        with open(path, "rb") as file:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
    except OSError:
        return None
