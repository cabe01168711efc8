"""Events rules: ``db.events``, the Discord event trail (R14) and its daily statistics (R13.2, R13.4).

One controller composed of small parts, each in its own module:

- ``event_writers``: the buffered COPY writers and the rollups they keep;
- this module: guild events, reactions, message counts, the trail's reads and
  partition retention;
- ``event_voice``: voice sessions (join, leave, move, mute, deafen, stream) and
  closing them when the bot loses sight of them;
- ``event_invites``: the invite tracker and each join's invite match;
- ``event_stats``: reports over the daily rollups;
- ``event_exports``: a table or a report over a period to CSV / JSON Lines, streamed.

Every public method validates its arguments first (``db.validation``); the
per-event methods then queue one row and return without waiting for the
database, unless the buffer is full. The ``logging`` feature toggle gates what
members trigger (events, reactions, messages, voice updates, joins): off, they
raise ``FeatureDisabledError`` and record nothing. Clean-up (closing voice
sessions, invite baselines), reports, exports and retention are never gated.

The per-event methods (reactions, member updates, messages, voice states) are
the gateway's hot path, so each has two ways through the same rules: when
every argument is of the common shape and plainly valid (``int`` IDs under
``db.types.cached_snowflake_ceiling``, an emoji already checked once, real ``bool``s, no
explicit time) and the guild's mirrored feature map says ``logging`` is on
(``features.open_now``), the row is built and queued with no further call;
anything else (a string ID, a bad value, a cache miss, the toggle off) takes
the full path: the gate (``require``), then every ``db.validation`` check,
which raises the ``ValidationError`` naming the field. Either way nothing is
queued unless every argument passed.
"""

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from guildbase.controllers.event_exports import EventExports
from guildbase.controllers.event_invites import InviteTracker
from guildbase.controllers.event_voice import VoiceSessions
from guildbase.controllers.event_writers import QUEUED, changes_json
from guildbase.controllers.features import gated, open_now, require
from guildbase.db import partitions
from guildbase.db.rows import read_all
from guildbase.db.types import cached_snowflake_ceiling
from guildbase.db.validation import (
    flag,
    integer,
    mapping,
    moment,
    optional_aware,
    optional_snowflake,
    optional_text,
    page_limit,
    snowflake,
    snowflakes,
    validate_enum,
)
from guildbase.db.validation import text as checked_text
from guildbase.errors import ValidationError
from guildbase.models.core import DEFAULT_FEATURES, Feature
from guildbase.models.events import (
    EMOJI_MAX_LENGTH,
    REASON_MAX_LENGTH,
    RETENTION_MONTHS,
    TRAIL_TABLES,
    GuildEventKind,
    GuildEventRead,
    ReactionEventRead,
)

__all__ = ["MAX_PAGE", "EventController"]

MAX_PAGE = 500
MAX_RETENTION_MONTHS = 120
OWN_METHODS = {GuildEventKind.MEMBER_JOIN: "member_joined", GuildEventKind.MEMBER_UPDATE: "record_member_update"}
"""Kinds with rules of their own (invite matching, role rollups): ``record_guild_event`` sends callers there."""
LOGGING, LOGGING_DEFAULT = Feature.LOGGING.value, DEFAULT_FEATURES[Feature.LOGGING]
MAX_ROLES = 250
_MEMBER_UPDATE = GuildEventKind.MEMBER_UPDATE.value
"""Queued rows hold plain values (the kind's text, not the enum member): such a tuple leaves the GC's care."""
MAX_EMOJIS_KNOWN = 4096
"""Emoji strings remembered as checked (``record_reaction``'s fast path); the set starts again when full."""

_EVENTS_SQL = text("""
SELECT event_id, occurred_at, guild_id, kind, user_id, target_id, executor_id, before, after, reason
FROM guild_event
WHERE guild_id = :guild_id AND occurred_at >= :since
  AND (CAST(:user_id AS bigint) IS NULL OR user_id = :user_id)
  AND (CAST(:kind AS guild_event_kind) IS NULL OR kind = CAST(:kind AS guild_event_kind))
ORDER BY occurred_at DESC, event_id DESC
LIMIT :limit
""")
_REACTIONS_SQL = text("""
SELECT event_id, occurred_at, guild_id, channel_id, message_id, user_id, emoji, is_added
FROM reaction_event
WHERE guild_id = :guild_id AND message_id = :message_id
ORDER BY occurred_at, event_id
LIMIT :limit
""")


class EventController(InviteTracker, VoiceSessions, EventExports):
    """``db.events``: record what happened in a guild, who did it, and report on it."""

    @gated(Feature.LOGGING)
    async def record_guild_event(
        self,
        guild_id: int,
        kind: GuildEventKind,
        *,
        user_id: int | None = None,
        target_id: int | None = None,
        executor_id: int | None = None,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        reason: str | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """Queue one guild event (``before`` / ``after``: the changed fields only; IDs, never names).

        Raises:
            ValidationError: a bad field; ``kind`` ``member_join`` or
                ``member_update``, which have methods of their own.
        """
        row = (
            moment("occurred_at", occurred_at),
            snowflake("guild_id", guild_id),
            validate_enum("kind", GuildEventKind, kind),
            optional_snowflake("user_id", user_id),
            optional_snowflake("target_id", target_id),
            optional_snowflake("executor_id", executor_id),
            _json("before", before),
            _json("after", after),
            optional_text("reason", reason, max_length=REASON_MAX_LENGTH),
            (),
            (),
        )
        if (own := OWN_METHODS.get(row[2])) is not None:
            raise ValidationError.single("kind", "own_method", f"{row[2].value} events are recorded by {own}()")
        await self._queue("guild_event", (*row[:2], row[2].value, *row[3:]))

    @gated(Feature.LOGGING, inline=True)
    async def record_member_update(
        self,
        guild_id: int,
        user_id: int,
        *,
        roles_added: Sequence[int] = (),
        roles_removed: Sequence[int] = (),
        nick_changed: bool = False,
        timeout_changed: bool = False,
        timed_out_until: datetime | None = None,
        executor_id: int | None = None,
        reason: str | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """Queue a member update: roles given and taken (counted per role and day), nickname, timeout.

        The nickname itself is never stored, only that it changed. Nothing is
        queued when nothing changed.
        """
        ceiling = self._ceiling
        if (
            type(guild_id) is int
            and type(user_id) is int
            and 0 < guild_id < ceiling
            and 0 < user_id < ceiling
            and (added := _ids(roles_added, ceiling)) is not None
            and (removed := _ids(roles_removed, ceiling)) is not None
            and type(nick_changed) is bool
            and type(timeout_changed) is bool
            and timed_out_until is None
            and (executor_id is None or (type(executor_id) is int and 0 < executor_id < ceiling))
            and reason is None
            and occurred_at is None
            and open_now(self._db, guild_id, LOGGING, LOGGING_DEFAULT)
        ):
            row_time, guild, user, executor, why, until = datetime.now(UTC), guild_id, user_id, executor_id, None, None
            nick, timeout = nick_changed, timeout_changed
        else:
            await require(self._db, snowflake("guild_id", guild_id), Feature.LOGGING)
            self._ceiling = cached_snowflake_ceiling()
            row_time = moment("occurred_at", occurred_at)
            guild, user = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
            added = tuple(snowflakes("roles_added", roles_added, max_items=MAX_ROLES))
            removed = tuple(snowflakes("roles_removed", roles_removed, max_items=MAX_ROLES))
            nick, timeout = flag("nick_changed", nick_changed), flag("timeout_changed", timeout_changed)
            until = optional_aware("timed_out_until", timed_out_until)
            executor = optional_snowflake("executor_id", executor_id)
            why = optional_text("reason", reason, max_length=REASON_MAX_LENGTH)
        if not (added or removed or nick or timeout):
            return
        extra = '"nick": true' if nick else ""
        if timeout:
            shown_until = "null" if until is None else f'"{until.isoformat()}"'  # digits, "-", ":", "+", "T", "."
            extra = f'{extra}, "timed_out_until": {shown_until}' if extra else f'"timed_out_until": {shown_until}'
        before = changes_json(removed) if removed else "{}"
        after = changes_json(added, extra)
        row = (row_time, guild, _MEMBER_UPDATE, user, None, executor, before, after, why, added, removed)
        if (outcome := self._offer("guild_event", row)) != QUEUED:
            await self._after_offer(outcome, "guild_event", row)

    @gated(Feature.LOGGING, inline=True)
    async def record_reaction(
        self,
        guild_id: int,
        channel_id: int,
        message_id: int,
        user_id: int,
        emoji: str,
        *,
        added: bool = True,
        occurred_at: datetime | None = None,
    ) -> None:
        """Queue a reaction added (or, ``added=False``, removed) on a message."""
        ceiling = self._ceiling
        if (
            type(guild_id) is int
            and type(channel_id) is int
            and type(message_id) is int
            and type(user_id) is int
            and 0 < guild_id < ceiling
            and 0 < channel_id < ceiling
            and 0 < message_id < ceiling
            and 0 < user_id < ceiling
            and type(emoji) is str
            and emoji in self._emojis
            and type(added) is bool
            and occurred_at is None
            and open_now(self._db, guild_id, LOGGING, LOGGING_DEFAULT)
        ):
            row: tuple[Any, ...] = (datetime.now(UTC), guild_id, channel_id, message_id, user_id, emoji, added)
        else:
            await require(self._db, snowflake("guild_id", guild_id), Feature.LOGGING)
            self._ceiling = cached_snowflake_ceiling()
            row = (
                moment("occurred_at", occurred_at),
                snowflake("guild_id", guild_id),
                snowflake("channel_id", channel_id),
                snowflake("message_id", message_id),
                snowflake("user_id", user_id),
                checked_text("emoji", emoji, min_length=1, max_length=EMOJI_MAX_LENGTH),
                flag("added", added),
            )
            if type(emoji) is str:
                if len(self._emojis) >= MAX_EMOJIS_KNOWN:
                    self._emojis.clear()
                self._emojis.add(emoji)
        if (outcome := self._offer("reaction_event", row)) != QUEUED:
            await self._after_offer(outcome, "reaction_event", row)

    @gated(Feature.LOGGING, inline=True)
    async def record_message(
        self, guild_id: int, channel_id: int, user_id: int, *, occurred_at: datetime | None = None
    ) -> None:
        """Count one message for its channel and author today (the content is never seen here)."""
        ceiling = self._ceiling
        if (
            type(guild_id) is int
            and type(channel_id) is int
            and type(user_id) is int
            and 0 < guild_id < ceiling
            and 0 < channel_id < ceiling
            and 0 < user_id < ceiling
            and occurred_at is None
            and open_now(self._db, guild_id, LOGGING, LOGGING_DEFAULT)
        ):
            row: tuple[Any, ...] = (datetime.now(UTC), guild_id, channel_id, user_id)
        else:
            await require(self._db, snowflake("guild_id", guild_id), Feature.LOGGING)
            self._ceiling = cached_snowflake_ceiling()
            row = (
                moment("occurred_at", occurred_at),
                snowflake("guild_id", guild_id),
                snowflake("channel_id", channel_id),
                snowflake("user_id", user_id),
            )
        if (outcome := self._offer("message", row)) != QUEUED:
            await self._after_offer(outcome, "message", row)

    # -- reads ---------------------------------------------------------------------------
    async def guild_events(
        self,
        guild_id: int,
        *,
        since: datetime | None = None,
        user_id: int | None = None,
        kind: GuildEventKind | None = None,
        limit: int = 100,
    ) -> list[GuildEventRead]:
        """A guild's events, newest first (default: the last 30 days); flush first to see queued ones."""
        params = {
            "guild_id": snowflake("guild_id", guild_id),
            "since": optional_aware("since", since) or moment("now", None) - timedelta(days=30),
            "user_id": optional_snowflake("user_id", user_id),
            "kind": None if kind is None else validate_enum("kind", GuildEventKind, kind).value,
            "limit": page_limit(limit, MAX_PAGE),
        }
        async with self._read() as session:
            rows = (await session.execute(_EVENTS_SQL, params)).mappings().all()
        return read_all(GuildEventRead, rows)

    async def reactions(self, guild_id: int, message_id: int, *, limit: int = 100) -> list[ReactionEventRead]:
        """A message's reaction trail, oldest first."""
        params = {
            "guild_id": snowflake("guild_id", guild_id),
            "message_id": snowflake("message_id", message_id),
            "limit": page_limit(limit, MAX_PAGE),
        }
        async with self._read() as session:
            rows = (await session.execute(_REACTIONS_SQL, params)).mappings().all()
        return read_all(ReactionEventRead, rows)

    # -- retention -------------------------------------------------------------------------
    async def maintain_partitions(
        self,
        *,
        now: datetime | None = None,
        months_ahead: int = 3,
        retention: Mapping[str, int] | None = None,
    ) -> dict[str, dict[str, list[str]]]:
        """Create this month's and the next ``months_ahead`` partitions, drop those past retention.

        ``retention`` overrides ``RETENTION_MONTHS`` per table (whole months kept
        before the current one). Returns ``{table: {"created": […], "dropped": […]}}``.
        """
        current = partitions.month_of(moment("now", now))
        ahead = integer("months_ahead", months_ahead, minimum=0, maximum=24)
        keep = dict(RETENTION_MONTHS)
        for table, months in mapping("retention", retention).items():
            if table not in RETENTION_MONTHS:
                known = ", ".join(TRAIL_TABLES)
                raise ValidationError.single(f"retention.{table}", "table", f"must be one of {known}, got {table!r}")
            keep[table] = integer(f"retention.{table}", months, minimum=1, maximum=MAX_RETENTION_MONTHS)
        changes: dict[str, dict[str, list[str]]] = {}
        async with self._fast() as unit:
            for table in TRAIL_TABLES:
                created, dropped = await partitions.maintain(
                    unit.connection, table, current, months_ahead=ahead, keep_months=keep[table]
                )
                changes[table] = {"created": created, "dropped": dropped}
        return changes

    async def partitions(self, table: str) -> list[str]:
        """A trail table's partitions, oldest first."""
        table = checked_text("table", table, min_length=1, max_length=64)
        if table not in TRAIL_TABLES:
            raise ValidationError.single("table", "table", f"must be one of {', '.join(TRAIL_TABLES)}, got {table!r}")
        async with self._fast(transaction=False) as unit:
            return await partitions.partitions_of(unit.connection, table)


def _json(field: str, value: object) -> str:
    """A JSON object of changed fields, as the JSON text queued: ``mapping`` rules, and it must serialize."""
    checked = mapping(field, value)
    try:
        return json.dumps(checked, allow_nan=False)
    except (TypeError, ValueError) as problem:
        raise ValidationError.single(field, "json", f"must be JSON-serializable: {problem}") from None


def _ids(values: object, ceiling: int) -> tuple[int, ...] | None:
    """``values`` as a tuple when it is a list or tuple of at most ``MAX_ROLES`` plain valid IDs; else None."""
    if type(values) is not tuple and type(values) is not list:
        return None
    if len(values) > MAX_ROLES:
        return None
    for value in values:
        if type(value) is not int or not 0 < value < ceiling:
            return None
    return tuple(values)
