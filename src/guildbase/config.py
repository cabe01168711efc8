"""Settings, read from ``GUILDBASE_*`` environment variables (or a ``.env`` file).

A malformed value stops the process at start-up with a ``ConfigurationError``
that names the environment variable and what it expects, instead of failing
later at the first query.
"""

from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from guildbase.db.hot_rows import DEFAULT_WIDTH
from guildbase.errors import ConfigurationError, pydantic_message

ENV_PREFIX = "GUILDBASE_"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _split_list(value: Any) -> Any:
    """Accept ``a,b,c`` as well as a JSON list in list-valued variables."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json  # noqa: PLC0415 - only for the rare JSON form

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _check_postgres_url(value: str) -> str:
    try:
        url = make_url(value)
    except ArgumentError:
        msg = f"expected a PostgreSQL URL like postgresql://user@host:5432/dbname, got {value!r}"
        raise ValueError(msg) from None
    if url.get_backend_name() != "postgresql":
        msg = f"expected a postgresql:// URL, got scheme {url.drivername!r}"
        raise ValueError(msg)
    return value


class Settings(BaseSettings):
    """Everything guildbase reads from the environment; each field is ``GUILDBASE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, description="Writer PostgreSQL URL; unset starts an embedded PostgreSQL."
    )
    replica_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Read-replica URLs, comma-separated; reports read from them."
    )
    replica_max_lag_seconds: float = Field(
        default=5.0, ge=0, description="A replica replaying more than this far behind is skipped (reads elsewhere)."
    )
    replica_wait_ms: int = Field(
        default=50,
        ge=0,
        le=10_000,
        description="How long a read waits for a replica to replay this process's last write, then reads the writer.",
    )
    replica_retry_seconds: float = Field(
        default=5.0, ge=0, description="Seconds a replica found down is skipped before it is tried again."
    )
    redis_url: str | None = Field(default=None, description="Redis URL; unset uses an in-process Redis.")
    redis_cluster: bool = Field(
        default=False,
        description="The Redis URL names one node of a Redis Cluster (implied by a redis+cluster:// URL).",
    )
    pool_size: int = Field(default=10, ge=1, le=1000, description="Connections kept open per engine.")
    pool_max_overflow: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="Extra connections under burst load; each is closed again on return (connect churn), so 0.",
    )
    pool_timeout: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="Seconds a call waits for a free connection, then PoolExhaustedError (a bot must not stall).",
    )
    counter_admission: int = Field(
        default=DEFAULT_WIDTH,
        ge=1,
        le=1000,
        description="Statements per guild counter row let into PostgreSQL at once (the rest queue in the process).",
    )
    pool_recycle: int = Field(default=1800, ge=-1, description="Seconds before a connection is replaced (-1: never).")
    pool_pre_ping: bool = Field(
        default=True,
        description="Ping each connection on checkout so a dead one is replaced unseen (costs round trips).",
    )
    statement_timeout_ms: int = Field(default=30_000, ge=0, description="Server-side statement timeout (0: none).")
    pgbouncer: bool = Field(
        default=False, description="Disable prepared-statement caches for PgBouncer transaction mode."
    )
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Fernet keys, comma-separated, newest first (MultiFernet rotation)."
    )
    cache_ttl_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="How long Redis keeps cached values (at most a day, so they expire before their generation key).",
    )
    local_cache_ttl_seconds: float = Field(
        default=5.0, ge=0, description="In-process cache lifetime; invalidations usually end it sooner."
    )
    redis_retry_seconds: float = Field(
        default=5.0, gt=0, description="After a Redis failure, serve from PostgreSQL this long before retrying."
    )
    web_session_ttl_seconds: int = Field(
        default=7 * 24 * 3600, ge=60, description="Dashboard session lifetime, pushed forward on each request."
    )
    snippet_limit: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="Snippets one guild may keep (premium tiers will raise it per guild).",
    )
    log_level: LogLevel = Field(default="INFO", description="Logging level.")
    data_dir: Path = Field(default=Path(".guildbase"), description="Where the embedded PostgreSQL keeps its data.")
    jobs_batch_size: int = Field(default=20, ge=1, le=500, description="Jobs one worker claims per statement.")
    jobs_concurrency: int = Field(default=10, ge=1, le=1000, description="Jobs one worker runs at the same time.")
    jobs_poll_interval_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="Longest idle sleep; NOTIFY wakes a worker sooner."
    )
    jobs_lease_seconds: float = Field(
        default=60.0, gt=0, le=86_400, description="Lease of a claim; a dead worker's jobs return after it."
    )
    jobs_max_attempts: int = Field(default=5, ge=1, le=100, description="Default attempt budget of a job kind.")
    jobs_retry_base_seconds: float = Field(
        default=5.0, gt=0, le=86_400, description="First retry delay; it doubles after every failure."
    )
    jobs_retry_max_seconds: float = Field(default=3600.0, gt=0, le=7 * 86_400, description="Longest retry delay.")
    jobs_shutdown_timeout_seconds: float = Field(
        default=10.0, ge=0, le=3600, description="Grace for running jobs when a worker stops; then they are released."
    )
    log_flush_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Longest a logged row waits in memory before its batch is written (bounds a SIGKILL's loss).",
    )
    log_flush_rows: int = Field(
        default=2000, ge=1, le=100_000, description="Rows per log batch; a full batch is written at once."
    )
    log_max_pending_rows: int = Field(
        default=50_000,
        ge=1,
        le=10_000_000,
        description="Most log rows held in memory; more go to the spill file (the bound of a SIGKILL's loss).",
    )
    log_spill_dir: Path | None = Field(
        default=Path(".guildbase/spill"),
        description=(
            "Where command-log rows go when the buffer is full, so a command never waits for the log; "
            "replayed by the next start after a kill. None: callers wait for room instead."
        ),
    )
    integrations_timeout_seconds: float = Field(
        default=15.0, gt=0, le=120, description="Longest one feed or release-list request may take."
    )
    integrations_max_bytes: int = Field(
        default=2_000_000, ge=10_000, le=50_000_000, description="Largest feed body read; a bigger one is refused."
    )
    integrations_allow_private_hosts: bool = Field(
        default=False,
        description=(
            "Let feeds and webhooks reach loopback and private addresses (off: a guild admin cannot make the "
            "bot fetch its own network; tests and self-hosted feeds turn it on)."
        ),
    )
    github_api_url: str = Field(
        default="https://api.github.com", description="GitHub's REST API base (a GitHub Enterprise host, or a fake)."
    )
    log_retry_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="First retry delay of a failed log write; it doubles per failure."
    )
    log_retry_max_seconds: float = Field(default=30.0, gt=0, le=3600, description="Longest log-write retry delay.")
    permission_log_allow_rate: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Share of allowed permission checks written to the check log (denials are always written).",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65_535,
        description="Port of /metrics (Prometheus) in the bot and the job worker; unset: off, 0: any free port.",
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address the Prometheus endpoint listens on.")
    metrics_sample_seconds: float = Field(
        default=0.0,
        ge=0,
        le=3600,
        description="Seconds between samples of the runtime figures into runtime_metric_sample (0: no samples).",
    )
    metrics_process: str | None = Field(
        default=None, min_length=1, max_length=200, description="This process's name in the samples (host:pid)."
    )
    jobs_listen: bool = Field(
        default=True, description="LISTEN for new jobs (turn off behind PgBouncer transaction mode; polling remains)."
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except pydantic.ValidationError as error:
            raise _configuration_error(error) from None

    @field_validator("replica_urls", "encryption_keys", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return None if value is None else _check_postgres_url(value)

    @field_validator("replica_urls")
    @classmethod
    def _replica_urls(cls, value: list[str]) -> list[str]:
        return [_check_postgres_url(url) for url in value]

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        schemes = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
        if value is not None and not value.startswith(schemes):
            msg = f"expected redis://host:port/db, rediss://, unix:// or redis+cluster://host:port, got {value!r}"
            raise ValueError(msg)
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _fernet_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        for position, key in enumerate(value, start=1):
            try:
                Fernet(key.get_secret_value())
            except (ValueError, TypeError):
                msg = (
                    f"key #{position} is not a Fernet key (32 url-safe base64 bytes); "
                    "make one with `guildbase keys new`"
                )
                raise ValueError(msg) from None
        return value


def _configuration_error(error: pydantic.ValidationError) -> ConfigurationError:
    lines = []
    for detail in error.errors(include_url=False):
        field = str(detail["loc"][0]) if detail["loc"] else "settings"
        if field == "encryption_keys":
            detail["input"] = "<hidden>"
        lines.append(f"{ENV_PREFIX}{field.upper()}: {pydantic_message(detail)}")
    return ConfigurationError("invalid settings:\n  " + "\n  ".join(lines))
