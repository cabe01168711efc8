"""A tiny circuit breaker shared by the Redis services."""

import logging
import time

log = logging.getLogger("guildbase.redis")


class CircuitBreaker:
    """Skip Redis for ``cooldown`` seconds after a failure, and log once per outage."""

    def __init__(self, cooldown: float = 5.0) -> None:
        self.cooldown = cooldown
        self._open_until = 0.0
        self._outage = False

    @property
    def is_open(self) -> bool:
        """True while calls should not even try Redis."""
        return time.monotonic() < self._open_until

    def failed(self, error: BaseException) -> None:
        """Record a failure; warn only on the first one of an outage."""
        self._open_until = time.monotonic() + self.cooldown
        if not self._outage:
            self._outage = True
            log.warning("Redis unavailable (%s); serving from PostgreSQL until it returns", error)

    def succeeded(self) -> None:
        """Record a success; announce the end of an outage."""
        if self._outage:
            self._outage = False
            log.warning("Redis is back; cache reads resume")
