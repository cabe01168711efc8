"""The invite tracker: invites created and deleted, and for each join the invite used, with a confidence.

Discord does not say which invite a member used. The bot fetches the guild's
invites on each join and hands them over (``member_joined``); a join is
matched from the change in use counts, under a per-guild lock:

1. each invite's rise since the last look is added to its ``unclaimed`` uses
   (an invite that vanished at ``max_uses - 1`` was used up: one more);
2. if every unclaimed use is on one invite, the join used it: ``exact``, and
   one use is claimed;
3. if several invites hold unclaimed uses (members joined close together and
   the counts moved before the bot looked), the join is ``uncertain`` with
   those invites as ``candidates``; it is *owed* one of their uses, and once
   the owed joins equal the unclaimed uses, all of them are settled at once;
4. if no invite rose (vanity URL, discovery, an invite the bot never saw),
   the join is ``unknown``.

So two joins close together are either told apart (the counts moved one at a
time) or both reported as ``uncertain`` with the same candidates; a join is
never attributed to the wrong invite with ``exact``.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import text

from guildbase.controllers.event_voice import VoiceSessions
from guildbase.controllers.event_writers import guild_event_row
from guildbase.controllers.features import gated
from guildbase.db.bulk import Row
from guildbase.db.partitions import ensure_months, is_missing_partition, month_of
from guildbase.db.rows import read_all
from guildbase.db.validation import (
    flag,
    instance,
    instances,
    moment,
    optional_aware,
    page_limit,
    snowflake,
)
from guildbase.db.validation import text as checked_text
from guildbase.errors import ValidationError
from guildbase.models.core import Feature
from guildbase.models.events import (
    INVITE_CODE_MAX_LENGTH,
    GuildEventKind,
    InviteConfidence,
    InviteState,
    InviteUseRead,
)

__all__ = ["RECENTLY_DELETED", "InviteTracker"]

MAX_INVITES = 1000
RECENTLY_DELETED = timedelta(minutes=5)
"""An invite deleted this long before a join may still be the one it used up (the delete can arrive first)."""

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('invite:' || $1::bigint::text, 0))"
_STORED = (
    "SELECT code, uses, unclaimed, max_uses, inviter_id, deleted_at FROM invite "
    "WHERE guild_id = $1 AND (deleted_at IS NULL OR deleted_at > $2) FOR UPDATE"
)
_UPSERT = """
INSERT INTO invite AS i (guild_id, code, channel_id, inviter_id, uses, unclaimed, max_uses, expires_at, deleted_at)
SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::int[], $6::int[], $7::int[],
                         $8::timestamptz[], $9::timestamptz[])
ON CONFLICT (guild_id, code) DO UPDATE SET
    channel_id = coalesce(excluded.channel_id, i.channel_id), inviter_id = coalesce(excluded.inviter_id, i.inviter_id),
    uses = excluded.uses, unclaimed = excluded.unclaimed, max_uses = excluded.max_uses,
    expires_at = excluded.expires_at, deleted_at = excluded.deleted_at
"""
_OWED = "SELECT owed FROM invite_tally WHERE guild_id = $1"
_SET_OWED = """
INSERT INTO invite_tally (guild_id, owed) VALUES ($1, $2) ON CONFLICT (guild_id) DO UPDATE SET owed = excluded.owed
"""
_USE = (
    "INSERT INTO invite_use (joined_at, guild_id, user_id, code, inviter_id, confidence, candidates) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7)"
)
_USES = text("""
SELECT joined_at, guild_id, user_id, code, inviter_id, confidence, candidates FROM invite_use
WHERE guild_id = :guild_id AND joined_at >= :since ORDER BY joined_at DESC, use_id DESC LIMIT :limit
""")


class InviteTracker(VoiceSessions):
    """The invite part of ``db.events``."""

    @gated(Feature.LOGGING)
    async def invite_created(self, guild_id: int, invite: InviteState, *, occurred_at: datetime | None = None) -> None:
        """Start tracking a new invite (its uses so far are not joins to match) and log it.

        Gated like every event a member triggers: with ``logging`` off nothing
        is tracked or logged (a join after it is turned on counts such an
        invite's first use at most, as for any invite never seen).
        """
        at = moment("occurred_at", occurred_at)
        guild = snowflake("guild_id", guild_id)
        state = instance("invite", invite, InviteState)
        async with self._fast() as unit:
            await unit.connection.execute(_LOCK, guild)
            await _store(unit.connection, guild, [(state, state.uses, 0, None)])
        after = {"code": state.code, "max_uses": state.max_uses}
        row: Row = (at, guild, GuildEventKind.INVITE_CREATE, state.inviter_id, state.channel_id, None, {}, after, None)
        await self._queue("guild_event", guild_event_row(row))

    @gated(Feature.LOGGING)
    async def invite_deleted(self, guild_id: int, code: str, *, occurred_at: datetime | None = None) -> None:
        """Mark an invite deleted (kept a while: a join may have used it up) and log it (gated on ``logging``)."""
        at = moment("occurred_at", occurred_at)
        guild = snowflake("guild_id", guild_id)
        code = checked_text("code", code, min_length=1, max_length=INVITE_CODE_MAX_LENGTH)
        async with self._fast() as unit:
            await unit.connection.execute(
                "UPDATE invite SET deleted_at = $3 WHERE guild_id = $1 AND code = $2 AND deleted_at IS NULL",
                guild,
                code,
                at,
            )
        row: Row = (at, guild, GuildEventKind.INVITE_DELETE, None, None, None, {"code": code}, {}, None)
        await self._queue("guild_event", guild_event_row(row))

    async def sync_invites(
        self, guild_id: int, invites: Sequence[InviteState], *, occurred_at: datetime | None = None
    ) -> None:
        """Take the guild's invites as the new baseline (bot start, reconnect): no use is left to match."""
        at = moment("occurred_at", occurred_at)
        guild = snowflake("guild_id", guild_id)
        seen = _seen(invites)
        async with self._fast() as unit:
            await unit.connection.execute(_LOCK, guild)
            await unit.connection.execute(
                "UPDATE invite SET deleted_at = $2 WHERE guild_id = $1 AND deleted_at IS NULL "
                "AND NOT (code = ANY($3::text[]))",
                guild,
                at,
                list(seen),
            )
            await _store(unit.connection, guild, [(state, state.uses, 0, None) for state in seen.values()])
            await unit.connection.execute(_SET_OWED, guild, 0)

    @gated(Feature.LOGGING)
    async def member_joined(
        self,
        guild_id: int,
        user_id: int,
        *,
        invites: Sequence[InviteState] = (),
        invites_seen: bool = True,
        joined_at: datetime | None = None,
    ) -> InviteUseRead:
        """Record a join and match it to an invite; ``invites_seen=False`` when the bot could not list them."""
        at = moment("joined_at", joined_at)
        guild, user = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        seen = _seen(invites)
        invites_seen = flag("invites_seen", invites_seen)
        async with self._fast() as unit:
            await unit.connection.execute(_LOCK, guild)
            if invites_seen:
                code, inviter, confidence, candidates = await _match(unit.connection, guild, seen, at)
            else:
                code, inviter, confidence, candidates = None, None, InviteConfidence.UNKNOWN, []
            values = (at, guild, user, code, inviter, confidence.value, candidates)
            try:
                async with unit.connection.transaction():
                    await unit.connection.execute(_USE, *values)
            except asyncpg.PostgresError as error:
                if not is_missing_partition(error):
                    raise
                await ensure_months(unit.connection, "invite_use", [month_of(at)])
                await unit.connection.execute(_USE, *values)
        after: dict[str, Any] = {"invite": code, "confidence": confidence.value}
        row: Row = (at, guild, GuildEventKind.MEMBER_JOIN, user, None, inviter, {}, after, None)
        await self._queue("guild_event", guild_event_row(row))
        return InviteUseRead(
            joined_at=at,
            guild_id=guild,
            user_id=user,
            code=code,
            inviter_id=inviter,
            confidence=confidence,
            candidates=candidates,
        )

    async def invite_uses(
        self, guild_id: int, *, since: datetime | None = None, limit: int = 100
    ) -> list[InviteUseRead]:
        """A guild's joins and their invite matches, newest first (default: the last 30 days)."""
        params = {
            "guild_id": snowflake("guild_id", guild_id),
            "since": optional_aware("since", since) or moment("now", None) - timedelta(days=30),
            "limit": page_limit(limit, 500),
        }
        async with self._read() as session:
            rows = (await session.execute(_USES, params)).mappings().all()
        return read_all(InviteUseRead, rows)


def _seen(invites: Sequence[InviteState]) -> dict[str, InviteState]:
    checked = instances("invites", invites, InviteState)
    if len(checked) > MAX_INVITES:
        raise ValidationError.single("invites", "max_items", f"must hold at most {MAX_INVITES} invites")
    return {state.code: state for state in checked}


async def _store(
    connection: asyncpg.Connection, guild: int, rows: Sequence[tuple[InviteState, int, int, datetime | None]]
) -> None:
    """Upsert (state, uses, unclaimed, deleted_at) per invite in one statement."""
    if not rows:
        return
    columns: list[list[Any]] = [[] for _ in range(8)]
    for state, uses, unclaimed, deleted_at in rows:
        values = (state.code, state.channel_id, state.inviter_id, uses, unclaimed, state.max_uses)
        for index, value in enumerate((*values, state.expires_at, deleted_at)):
            columns[index].append(value)
    await connection.execute(_UPSERT, guild, *columns)


async def _match(
    connection: asyncpg.Connection, guild: int, seen: dict[str, InviteState], at: datetime
) -> tuple[str | None, int | None, InviteConfidence, list[str]]:
    """Steps 1-4 of the module docstring; writes the new counts and the owed tally."""
    stored = {row["code"]: row for row in await connection.fetch(_STORED, guild, at - RECENTLY_DELETED)}
    owed = await connection.fetchval(_OWED, guild) or 0
    unclaimed: dict[str, int] = {}
    updates: list[tuple[InviteState, int, int, datetime | None]] = []
    inviters: dict[str, int | None] = {}
    for code, state in seen.items():
        before = stored.get(code)
        # An invite never seen before counts its first use at most (older uses predate the tracker).
        rise = max(state.uses - before["uses"], 0) if before is not None else min(state.uses, 1)
        unclaimed[code] = (before["unclaimed"] if before is not None else 0) + rise
        known = before["inviter_id"] if before is not None else None
        inviters[code] = state.inviter_id if state.inviter_id is not None else known
    for code, row in stored.items():
        if code in seen:
            continue
        used_up = row["max_uses"] > 0 and row["uses"] == row["max_uses"] - 1
        unclaimed[code] = row["unclaimed"] + (1 if used_up else 0)
        inviters[code] = row["inviter_id"]
        gone = InviteState(code=code, uses=row["uses"] + (1 if used_up else 0), max_uses=row["max_uses"])
        updates.append((gone, gone.uses, unclaimed[code], row["deleted_at"] or at))
    pool = sorted(name for name, count in unclaimed.items() if count > 0)
    matched: str | None = None
    if not pool:
        confidence, candidates = InviteConfidence.UNKNOWN, []
    elif len(pool) == 1:
        matched, confidence, candidates = pool[0], InviteConfidence.EXACT, list(pool)
        unclaimed[matched] -= 1
    else:
        confidence, candidates = InviteConfidence.UNCERTAIN, list(pool)
        owed += 1
        if owed >= sum(unclaimed.values()):  # every unclaimed use now has its (uncertain) join
            unclaimed = dict.fromkeys(unclaimed, 0)
            owed = 0
    if not any(unclaimed.values()):
        owed = 0
    updates += [(state, state.uses, unclaimed[c], None) for c, state in seen.items()]
    updates = [(s, uses, unclaimed.get(s.code, left), deleted) for s, uses, left, deleted in updates]
    await _store(connection, guild, updates)
    await connection.execute(_SET_OWED, guild, owed)
    return matched, None if matched is None else inviters.get(matched), confidence, candidates
