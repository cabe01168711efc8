"""Engines and session factories built from ``Settings``: one place for pool policy."""

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import sessionmaker

from guildbase.config import Settings
from guildbase.db.session import GuildbaseSession

APPLICATION_NAME = "guildbase"
PGBOUNCER_TIMEOUT_NOTE = (
    "GUILDBASE_PGBOUNCER is on: statement_timeout is not sent when connecting (PgBouncer refuses it as a "
    "startup parameter); set it on the server instead, e.g. ALTER ROLE <user> SET statement_timeout = '30s', "
    "or use PgBouncer's query_timeout"
)


def with_driver(url: str | URL, driver: str) -> URL:
    """The same URL with ``postgresql+<driver>`` as its scheme."""
    return make_url(url).set(drivername=f"postgresql+{driver}")


def _pool_options(settings: Settings) -> dict[str, Any]:
    return {
        "pool_size": settings.pool_size,
        "max_overflow": settings.pool_max_overflow,
        "pool_timeout": settings.pool_timeout,
        "pool_recycle": settings.pool_recycle,
        # On by default (Settings.pool_pre_ping): a connection the server killed is
        # replaced at checkout, unseen by the caller. asyncpg's ping is BEGIN; ping;
        # ROLLBACK, three round trips per checkout; turning it off trades them for one
        # failed call after a server restart (the pool is then invalidated and the
        # following call works).
        "pool_pre_ping": settings.pool_pre_ping,
        # FIFO hands out the longest-idle connection; LIFO lets surplus ones age out.
        "pool_use_lifo": True,
    }


_EMPTY_JSON: dict[str, Callable[[], Any]] = {"{}": dict, "[]": list}


def load_json(text: str) -> Any:
    """``json.loads``, with an empty object or array (what most JSONB columns hold) made without the parser.

    Why: every row of a list read decodes its JSONB columns, and the W7 profile
    (``docs/performance.md``) found ``json.loads('{}')`` behind SQLAlchemy's
    codec costing more than building the rest of the row's read model.
    A fresh object each time: callers may mutate what they read.
    """
    empty = _EMPTY_JSON.get(text)
    return empty() if empty is not None else json.loads(text)


def create_async(url: str | URL, settings: Settings, *, connect_timeout: float | None = None) -> AsyncEngine:
    """An asyncpg engine with guildbase's pool and server settings (``connect_timeout``: asyncpg's 60 s else)."""
    server_settings = {"application_name": APPLICATION_NAME, "timezone": "UTC"}
    if settings.statement_timeout_ms and not settings.pgbouncer:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    connect_args: dict[str, Any] = {"server_settings": server_settings}
    if connect_timeout is not None:
        connect_args["timeout"] = connect_timeout
    if settings.pgbouncer:
        # PgBouncer in transaction mode cannot keep prepared statements per client,
        # and refuses startup parameters it does not track (statement_timeout):
        # see ``PGBOUNCER_TIMEOUT_NOTE``.
        connect_args |= {"statement_cache_size": 0, "prepared_statement_cache_size": 0}
    return create_async_engine(
        with_driver(url, "asyncpg"), connect_args=connect_args, json_deserializer=load_json, **_pool_options(settings)
    )


def create_sync(url: str | URL, settings: Settings) -> Engine:
    """A psycopg (v3) engine for scripts, migrations and the sync facade."""
    options = "-c timezone=UTC"
    if settings.statement_timeout_ms:
        options += f" -c statement_timeout={settings.statement_timeout_ms}"
    connect_args: dict[str, Any] = {"application_name": APPLICATION_NAME, "options": options}
    if settings.pgbouncer:
        # No prepared statements, and no ``options`` startup parameter (PgBouncer refuses it).
        connect_args = {"application_name": APPLICATION_NAME, "prepare_threshold": None}
    return create_engine(with_driver(url, "psycopg"), connect_args=connect_args, **_pool_options(settings))


def async_session_factory(bind: Any, **options: Any) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded values after commit (controllers return them)."""
    return async_sessionmaker(bind=bind, sync_session_class=GuildbaseSession, expire_on_commit=False, **options)


def sync_session_factory(bind: Any, **options: Any) -> sessionmaker[GuildbaseSession]:
    """The sync twin of ``async_session_factory``."""
    return sessionmaker(bind=bind, class_=GuildbaseSession, expire_on_commit=False, **options)
