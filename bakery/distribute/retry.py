"""When to try a registry request again: 429, 5xx and connection errors only, bounded.

Anything else (a 4xx, a digest mismatch, a refused credential) is an answer, not a hiccup,
and retrying it would only hide it. Delays grow exponentially with full jitter and honour a
``Retry-After`` header (seconds or an HTTP date), capped so a hostile header cannot stall us.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from bakery.errors import RegistryError

T = TypeVar("T")

#: statuses worth another try (RFC 9110 / the distribution spec's TOOMANYREQUESTS)
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


class TransientError(RegistryError):
    """A failure that another attempt may not see: 429, 5xx, a dropped or stalled connection."""

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


def is_retryable_status(status: int) -> bool:
    """True for 429 and 5xx (except 501 Not Implemented, which will not change)."""
    return status in RETRYABLE_STATUSES or (status >= 500 and status != 501)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries; waits ``uniform(0, min(max_delay, base_delay * 2**n))``
    (full jitter), or the server's ``Retry-After`` when it says so (up to ``max_retry_after``).
    """

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """How long to wait after the ``failures``-th failed attempt (1-based)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (failures - 1))
        return self.rng.uniform(0, ceiling)

    def call(self, attempt: Callable[[], T], *, on_retry: Callable[[str], None] | None = None) -> T:
        """Run ``attempt`` until it returns, raises a non-transient error, or tries run out.

        After the last try, the last :class:`TransientError` is raised, saying how many tries.
        """
        failures = 0
        while True:
            try:
                return attempt()
            except TransientError as exc:
                failures += 1
                if failures >= self.attempts:
                    raise TransientError(
                        f"{exc.message} (gave up after {failures} attempts)",
                        hint=exc.hint or "the registry or the network is unstable; try again later",
                    ) from exc
                if on_retry is not None:
                    on_retry(exc.message)
                self.sleep(self.delay(failures, exc.retry_after))
