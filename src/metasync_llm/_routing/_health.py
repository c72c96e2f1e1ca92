"""The health of a router's deployments, free of I/O: which one a call tries next.

``metasync_llm.routing.Router`` asks :meth:`Health.pick` for a deployment, then reports
the try's end (:meth:`Health.succeeded`, :meth:`Health.failed`, :meth:`Health.released`).
Its sync and async loops drive the same object, under one lock held only for these
short decisions (never across a call), so the state holds for any mix of threads and
event loops.

A deployment that fails ``failures`` times within ``window`` seconds cools for
``cooldown`` seconds (a 429 with ``Retry-After``: for that long); after that one call
probes it while the others go elsewhere, and a success restores it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from metasync_llm.errors import AuthenticationError, MetasyncLLMError, RateLimitError
from metasync_llm.retry import RETRYABLE

#: Failures that say a document is unhealthy: they count towards its cooldown.
HEALTH_ERRORS: tuple[type[MetasyncLLMError], ...] = (*RETRYABLE, AuthenticationError)


@dataclass(slots=True, eq=False)
class Deployment:
    """One document's state in a router."""

    name: str
    weight: float = 1.0
    in_flight: int = 0
    calls: int = 0  # calls begun: spreads sequential calls by weight
    failures: deque[float] = field(default_factory=deque)
    cooling_until: float = 0.0  # 0: healthy; else cooling until then, then half-open
    probing: bool = False  # a call is probing it after its cooldown
    last_error: MetasyncLLMError | None = None


class Health:
    """Every deployment of one router, and the rule that picks the next for a call."""

    def __init__(
        self,
        deployments: Sequence[Deployment],
        *,
        balance: bool,
        failures: int,
        window: float,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deployments = list(deployments)
        self.balance = balance
        self.failures, self.window, self.cooldown = failures, window, cooldown
        self.clock = clock
        self._lock = threading.Lock()

    def pick(self, tried: set[int]) -> tuple[int | None, float]:
        """``(index, 0.0)`` of the deployment to try (counted in flight), or ``(None,
        wait)``: no deployment is free now; ``wait`` is the seconds until the first
        untried cooling one comes back (``inf``: every one was tried)."""
        with self._lock:
            now = self.clock()
            free: list[int] = []
            soonest = math.inf
            for index, deployment in enumerate(self.deployments):
                if index in tried:
                    continue
                if deployment.cooling_until:
                    if deployment.cooling_until > now:
                        soonest = min(soonest, deployment.cooling_until - now)
                        continue
                    if deployment.probing:  # another call probes it: go elsewhere
                        soonest = min(soonest, self.cooldown)
                        continue
                free.append(index)
            if not free:
                return None, soonest
            index = min(free, key=self._load) if self.balance else free[0]
            deployment = self.deployments[index]
            if deployment.cooling_until:  # its cooldown is over: this call is the probe
                deployment.probing = True
            deployment.in_flight += 1
            deployment.calls += 1
            return index, 0.0

    def _load(self, index: int) -> tuple[float, float, int]:
        deployment = self.deployments[index]
        weight = deployment.weight
        return (deployment.in_flight / weight, deployment.calls / weight, index)

    def succeeded(self, index: int) -> None:
        with self._lock:
            deployment = self.deployments[index]
            deployment.in_flight -= 1
            deployment.failures.clear()
            deployment.cooling_until = 0.0
            deployment.probing = False

    def released(self, index: int, error: MetasyncLLMError | None = None) -> None:
        """The try ended without saying anything of the deployment's health (an error of
        the request itself, a cancelled call)."""
        with self._lock:
            deployment = self.deployments[index]
            deployment.in_flight -= 1
            if deployment.probing:  # the probe told nothing: let another call probe
                deployment.probing = False
            if error is not None:
                deployment.last_error = error

    def failed(self, index: int, error: MetasyncLLMError) -> None:
        """A failure of the deployment: counted, and it cools when there are enough (a
        429 with ``Retry-After`` cools it for that long at once)."""
        with self._lock:
            now = self.clock()
            deployment = self.deployments[index]
            deployment.in_flight -= 1
            deployment.last_error = error
            retry_after = error.retry_after if isinstance(error, RateLimitError) else None
            recent = deployment.failures
            recent.append(now)
            while recent and recent[0] <= now - self.window:
                recent.popleft()
            if deployment.probing or len(recent) >= self.failures:
                deployment.cooling_until = now + self.cooldown
            if retry_after:
                deployment.cooling_until = max(deployment.cooling_until, now + retry_after)
            deployment.probing = False

    def snapshot(self) -> list[dict[str, object]]:
        """Each deployment's state, for logs and tests."""
        with self._lock:
            now = self.clock()
            return [
                {
                    "name": d.name,
                    "in_flight": d.in_flight,
                    "cooling_for": max(0.0, d.cooling_until - now) if d.cooling_until else 0.0,
                    "probing": d.probing,
                    "recent_failures": len(d.failures),
                }
                for d in self.deployments
            ]
