"""The Ray engine of a batch job: the same job on Ray Data, its limits shared by the cluster.

The driver reads the input (bad lines become error rows there, as in the local engine),
writes the requests to run to a temporary JSON Lines file, puts it block by block in
Ray's object store, and has Ray Data map its batches through a pool of async actors that call
``acomplete_with_model``, and hand back the rows, which the driver writes to the output
as they come: the output, resume and summary are the local engine's. One actor holds the
job's rate limiters; every worker goes through it, so the limits hold for the cluster.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import socket
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from metasync_llm._routing._health import Health
from metasync_llm.batch._output import Output
from metasync_llm.batch._progress import Progress
from metasync_llm.batch._requests import BatchRequest, Catalog, InputProblem
from metasync_llm.batch._runner import Requests, RowCallback, _Job
from metasync_llm.batch._summary import BatchSummary
from metasync_llm.errors import ConfigurationError, MetasyncLLMError

#: Rows per batch an actor works on at once (all its calls concurrently).
BATCH_SIZE = 32
#: CPUs each calling actor reserves: its calls wait on the network, and a full CPU each
#: would leave none for Ray Data's read tasks on a small machine (the job then hangs).
ACTOR_CPUS = 0.25


def run_on_ray(
    requests: Requests,
    documents: Sequence[Mapping[str, Any]],
    output: str | Path | IO[str] | None = None,
    *,
    address: str | None = None,
    actors: int = 2,
    batch_size: int = BATCH_SIZE,
    runtime_env: Mapping[str, Any] | None = None,
    forward_keys: bool = False,
    on_result: RowCallback | None = None,
    on_problem: Callable[[InputProblem], object] | None = None,
    resume: bool = False,
    retry_failed: bool = False,
    overwrite: bool = False,
    rate_limit_retries: int = 10,
    progress: Progress | None = None,
    summary: BatchSummary | None = None,
) -> BatchSummary:
    """Run a batch job with Ray Data (see :func:`metasync_llm.batch.run_batch`).

    ``address`` joins a running cluster (``"auto"``, ``"ray://host:10001"``); without it a
    local Ray starts for the job. Workers need the plugins (installed on the cluster, or in
    ``runtime_env``, e.g. ``{"pip": ["metasync-llm-openai"]}``) and the keys' environment
    variables (set on the cluster, or sent with ``forward_keys``: they then travel in the
    job's runtime environment, visible to whoever can read the cluster's job metadata).
    """
    try:
        import ray  # noqa: PLC0415 - the optional extra, for this engine only
    except ImportError as exc:
        raise ConfigurationError(
            'the Ray engine needs Ray: pip install "metasync-llm[ray]"', fields=("engine",)
        ) from exc
    catalog = Catalog(documents)  # an invalid catalog stops the job before Ray starts
    summary = summary if summary is not None else BatchSummary()
    out = Output(
        output,
        resume=resume,
        retry_failed=retry_failed,
        overwrite=overwrite,
        on_row=on_result,
        on_kept=lambda row: summary.add(row, resumed=True),
    )
    job = _Job(catalog, out, summary, progress, on_problem, rate_limit_retries)
    env = dict(runtime_env or {})
    if forward_keys:
        from metasync_llm._keys import env_var_for  # noqa: PLC0415

        names = {env_var_for(m.settings.key) for m in catalog.models.values() if m.settings.key}
        variables = {name: os.environ[name] for name in names if name in os.environ}
        env["env_vars"] = {**variables, **env.get("env_vars", {})}
    started_here = not ray.is_initialized()
    try:
        with tempfile.TemporaryDirectory(prefix="metasync-batch-") as folder:
            todo = Path(folder) / "requests.jsonl"
            count = asyncio.run(_write_todo(job, requests, todo))
            if count:
                if started_here:
                    ray.init(address=address, log_to_driver=False)
                _run(ray, job, documents, todo, actors, batch_size, rate_limit_retries, env, count)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        summary.finished = time.monotonic()
        out.close()
        if progress is not None:
            progress.close()
        if started_here and ray.is_initialized():
            ray.shutdown()
    return summary


async def _write_todo(job: _Job, requests: Requests, todo: Path) -> int:
    """Read the input as the local engine does; write the requests to run to ``todo``."""
    count = 0
    with open(todo, "w", encoding="utf-8") as file:

        class _Queue:
            async def put(self, request: BatchRequest | None) -> None:
                nonlocal count
                if request is not None:
                    count += 1
                    file.write(json.dumps(_as_dict(request)) + "\n")

        await job.read(requests, _Queue())
    return count


def _as_dict(request: BatchRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "model": request.model,
        "system": request.system,
        "user": request.user,
        "messages": list(request.messages) if request.messages is not None else None,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "schema": request.schema,
        "stop": list(request.stop),
        "attachments": list(request.attachments),
        "reasoning": request.reasoning,
        "metadata": request.metadata,
        "line": request.line,
    }


def _run(
    ray: Any,
    job: _Job,
    documents: Sequence[Mapping[str, Any]],
    todo: Path,
    actors: int,
    batch_size: int,
    rate_limit_retries: int,
    runtime_env: Mapping[str, Any],
    count: int,
) -> None:
    limits = {name: m.settings.rate_limit for name, m in job.catalog.models.items()}
    limiter = ray.remote(_LimiterActor).options(max_concurrency=10_000).remote(limits)
    # Blocks of one batch each: a block's rows come back to the driver when the whole
    # block is done, and the output is written as calls finish.
    blocks = max(2 * actors, -(-count // batch_size))
    dataset = ray.data.from_arrow_refs(_blocks(ray, todo, -(-count // blocks)))
    dataset = dataset.map_batches(
        _Caller,
        fn_constructor_kwargs={
            "documents": list(documents),
            "limiter": limiter,
            "rate_limit_retries": rate_limit_retries,
        },
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=ACTOR_CPUS,
        batch_format="numpy",
        runtime_env=dict(runtime_env) or None,
    )
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for line in batch["row"]:
            job.emit(json.loads(str(line)))


def _blocks(ray: Any, todo: Path, size: int) -> list[Any]:
    """The requests of ``todo``, ``size`` lines a block, put in Ray's object store one by
    one: the driver holds one block at a time, and the workers of any node read them.
    (Ray Data's ``local://`` paths, read on the driver's node, are deprecated and go after
    January 2027.)"""
    import pyarrow  # type: ignore[import-untyped]  # noqa: PLC0415 - a dependency of Ray Data

    refs = []
    with open(todo, encoding="utf-8") as file:
        while lines := [line.rstrip("\n") for line in itertools.islice(file, size)]:
            refs.append(ray.put(pyarrow.table({"text": lines})))
    return refs


class _LimiterActor:
    """The job's :class:`~metasync_llm.batch._limits.Limiter`, in one async actor."""

    def __init__(self, limits: Mapping[str, Any]) -> None:
        from metasync_llm.batch._limits import Limiter  # noqa: PLC0415

        self._limiter = Limiter(limits)
        self._cooling: dict[tuple[str, str], float] = {}  # (route, document) -> until

    async def acquire(self, model: str, tokens: int) -> int:
        return await self._limiter.acquire(model, tokens)

    async def release(self, model: str, estimated: int, used: int | None) -> None:
        await self._limiter.release(model, estimated, used)

    async def succeeded(self, model: str) -> None:
        await self._limiter.succeeded(model)

    async def rate_limited(
        self, model: str, retry_after: float | None, epoch: int | None = None
    ) -> float:
        return await self._limiter.rate_limited(model, retry_after, epoch)

    # The routes' documents that cool, for every worker (see ``SharedHealth``).

    def route_cool(self, route: str, model: str, seconds: float) -> None:
        until = time.monotonic() + seconds
        key = (route, model)
        self._cooling[key] = max(self._cooling.get(key, 0.0), until)

    def route_restore(self, route: str, model: str) -> None:
        self._cooling.pop((route, model), None)

    def route_state(self, route: str) -> dict[str, float]:
        """Seconds each cooling document of ``route`` has left (relative: nodes' clocks differ)."""
        now = time.monotonic()
        return {
            m: until - now for (r, m), until in self._cooling.items() if r == route and until > now
        }


class SharedHealth(Health):
    """A route's health on one Ray worker, shared with the others through the limits actor.

    The decisions stay local (no round trip before a call); a document this worker finds
    failing is reported to the actor with its cooldown, and each pick first takes in what
    the actor knows (asked for again at most every ``REFRESH`` seconds, never waited for):
    a document that cools on one worker cools on all within a moment.
    """

    REFRESH = 0.1

    def __init__(self, base: Health, actor: Any, route: str, ray: Any) -> None:
        super().__init__(
            base.deployments,
            balance=base.balance,
            failures=base.failures,
            window=base.window,
            cooldown=base.cooldown,
            clock=base.clock,
        )
        self._actor, self._route, self._ray = actor, route, ray
        self._pending: Any = None
        self._asked = -math.inf

    def pick(self, tried: set[int]) -> tuple[int | None, float]:
        self._learn()
        return super().pick(tried)

    def failed(self, index: int, error: MetasyncLLMError) -> None:
        super().failed(index, error)
        deployment = self.deployments[index]
        left = deployment.cooling_until - self.clock() if deployment.cooling_until else 0.0
        if left > 0:
            self._actor.route_cool.remote(self._route, deployment.name, left)

    def succeeded(self, index: int) -> None:
        was_cooling = self.deployments[index].cooling_until
        super().succeeded(index)
        if was_cooling:
            self._actor.route_restore.remote(self._route, self.deployments[index].name)

    def _learn(self) -> None:
        now = self.clock()
        pending = self._pending
        if pending is not None:
            ready, _ = self._ray.wait([pending], timeout=0)
            if ready:
                self._pending = None
                cooling: dict[str, float] = self._ray.get(pending)  # ready: no wait
                for deployment in self.deployments:
                    left = cooling.get(deployment.name)
                    if left and not deployment.cooling_until:  # learnt from another worker
                        deployment.cooling_until = now + left
        if self._pending is None and now - self._asked >= self.REFRESH:
            self._asked = now
            self._pending = self._actor.route_state.remote(self._route)


class _RemoteLimiter:
    """The limiter actor, seen from a worker: the same coroutine methods.

    Models without a ``rateLimit`` skip the actor (three round trips a call, measured to
    cost more CPU than the call) until this worker meets a 429 for one: from then on its
    calls of that model wait for the model's pause in the actor like everyone's.
    """

    def __init__(self, actor: Any, limited: set[str]) -> None:
        self._actor = actor
        self._limited = limited

    async def acquire(self, model: str, tokens: int) -> int | None:
        """The call's epoch; ``None`` for a model that skips the actor (see above)."""
        if model in self._limited:
            return int(await self._actor.acquire.remote(model, tokens))
        return None

    async def release(self, model: str, estimated: int, used: int | None) -> None:
        if model in self._limited:
            await self._actor.release.remote(model, estimated, used)

    async def succeeded(self, model: str) -> None:
        if model in self._limited:
            await self._actor.succeeded.remote(model)

    async def rate_limited(
        self, model: str, retry_after: float | None, epoch: int | None = None
    ) -> float:
        self._limited.add(model)
        return float(await self._actor.rate_limited.remote(model, retry_after, epoch))


class _Caller:
    """A Ray Data actor: calls a batch's requests concurrently, returns their rows.

    A model the worker cannot prepare (its plugin is not installed there, say) gives each
    of its rows an error naming the worker's host, instead of failing the actor.
    """

    def __init__(
        self, documents: Sequence[Mapping[str, Any]], limiter: Any, rate_limit_retries: int
    ) -> None:
        import dataclasses  # noqa: PLC0415

        self.catalog = Catalog(documents, keep_broken=True)
        self.host = socket.gethostname()
        self.policies = {
            name: dataclasses.replace(m.settings.retry, retry_rate_limits=False)
            for name, m in self.catalog.models.items()
        }
        limited = {n for n, m in self.catalog.models.items() if m.settings.rate_limit}
        self.limiter = _RemoteLimiter(limiter, limited)
        import ray  # noqa: PLC0415 - loaded already: this runs on a Ray worker

        for name, router in self.catalog.routes.items():  # one outage, seen by every worker
            router.health = SharedHealth(router.health, limiter, name, ray)
        self.rate_limit_retries = rate_limit_retries
        self.warm: dict[str, asyncio.Future[None]] = {}

    async def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        rows = await asyncio.gather(*(self._one(str(line)) for line in batch["text"]))
        return {"row": [json.dumps(row, ensure_ascii=False, default=str) for row in rows]}

    async def _one(self, line: str) -> dict[str, Any]:
        from metasync_llm.batch._calls import call, problem_row  # noqa: PLC0415

        fields = json.loads(line)
        fields["messages"] = tuple(fields["messages"]) if fields["messages"] else None
        fields["stop"] = tuple(fields["stop"])
        request = BatchRequest(**fields)
        broken = self.catalog.broken.get(request.model)
        if broken is not None:
            why = f"on Ray worker {self.host}: {broken}"
            problem = InputProblem(None, why, request.id, "ConfigurationError")
            return {**problem_row(problem), "model": request.model, "line": request.line}
        return await call(
            request, self.catalog, self.limiter, self.policies, self.rate_limit_retries, self.warm
        )
