"""The answer of ``Database.health()``: both stores, their latency and the schema revision, for a readiness probe."""

from dataclasses import dataclass

__all__ = ["Health"]


@dataclass(frozen=True, slots=True)
class Health:
    """What ``Database.health()`` found; ``ok`` is what a readiness probe wants."""

    database: bool
    database_latency_ms: float | None
    schema_revision: str | None
    redis: bool
    embedded: bool
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Both stores answered."""
        return self.database and self.redis
