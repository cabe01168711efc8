"""GDPR export and erase (R10.2): a user with data in every table, exported, erased, and searched for.

The user is seeded through the controllers where one writes the table, and
with SQL where only a buffered writer does (the event trail, the logs). After
the erase, ``db.privacy.locate`` scans every BIGINT, BIGINT[] and JSONB
column that the PostgreSQL catalog lists (not the policies' own list) and
must find the ID only where a policy keeps it.
"""

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from guildbase import Database, acting_as
from guildbase.errors import ValidationError
from guildbase.models.audit import AuditAction
from guildbase.models.privacy import PrivacyRequestKind, PrivacyRequestStatus
from guildbase.privacy.policy import TOMBSTONE_USER_ID
from guildbase.testing import ids, shifted_now

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
USER = BLOCK + 101
OTHER = BLOCK + 102
MOD = BLOCK + 103
CHANNEL = BLOCK + 301
MESSAGES = [BLOCK + 401 + n for n in range(4)]

KEPT = {
    "mod_case.user_id",  # the warning against the user stands
    "global_blacklist.target_id",  # so does the global block
    "privacy_request.user_id",  # and the record of the requests
}
"""Where the ID may stay after an erase, each by its table's policy (docs/privacy.md says why)."""

_TRAIL = """
SELECT partition_ensure('guild_event'::regclass, now()::date),
       partition_ensure('reaction_event'::regclass, now()::date),
       partition_ensure('voice_event'::regclass, now()::date),
       partition_ensure('voice_session'::regclass, now()::date),
       partition_ensure('invite_use'::regclass, now()::date),
       command_log_ensure_partition(now()::date)
"""
_ROWS = [
    (
        "INSERT INTO command_log (user_id, guild_id, channel_id, command, params, is_success, duration_ms)"
        " VALUES (:user, :guild, :channel, 'ping', '{}', true, 3)"
    ),
    (
        "INSERT INTO command_log (user_id, guild_id, command, params, is_success, duration_ms)"
        " VALUES (:other, :guild, 'ban', jsonb_build_object('member', CAST(:user_text AS text)), true, 3)"
    ),
    (
        "INSERT INTO command_log_dead_letter (user_id, error, row)"
        " VALUES (:user, 'copy failed', '{\"user_id\": ' || CAST(:user_text AS text) || '}')"
    ),
    (
        "INSERT INTO error_group (fingerprint, type, message, location, first_seen_at, last_seen_at, count)"
        " VALUES (repeat('a', 32), 'KeyError', 'boom', 'x.py:1', now(), now(), 1) ON CONFLICT DO NOTHING"
    ),
    (
        "INSERT INTO error_log (fingerprint, created_at, type, message, traceback, process, user_id, context)"
        " VALUES (repeat('a', 32), now(), 'KeyError', 'no member ' || CAST(:user_text AS text), 'Traceback',"
        " 'bot', :user, jsonb_build_object('author', CAST(:user AS bigint)))"
    ),
    "INSERT INTO guild_event (guild_id, kind, user_id) VALUES (:guild, 'member_join', :user)",
    (
        "INSERT INTO guild_event (guild_id, kind, user_id, executor_id, after)"
        " VALUES (:guild, 'member_update', :other, :user,"
        " jsonb_build_object('nick_set_by', CAST(:user_text AS text)))"
    ),
    (
        "INSERT INTO reaction_event (guild_id, channel_id, message_id, user_id, emoji, is_added)"
        " VALUES (:guild, :channel, :m0, :user, 'x', true)"
    ),
    "INSERT INTO voice_event (guild_id, user_id, kind, channel_id) VALUES (:guild, :user, 'join', :channel)",
    (
        "INSERT INTO voice_session (guild_id, user_id, channel_id, started_at, state_at)"
        " VALUES (:guild, :user, :channel, now(), now())"
    ),
    "INSERT INTO invite (guild_id, code, inviter_id, uses, unclaimed, max_uses) VALUES (:guild, 'abc', :user, 0, 0, 0)",
    "INSERT INTO invite_use (guild_id, user_id, confidence) VALUES (:guild, :user, 'exact')",
    "INSERT INTO invite_use (guild_id, user_id, inviter_id, confidence) VALUES (:guild, :other, :user, 'exact')",
    (
        "INSERT INTO message_stat_daily (guild_id, day, channel_id, user_id, messages) VALUES"
        " (:guild, current_date, :channel, :user, 5), (:guild, current_date, :channel, :other, 2)"
    ),
    (
        "INSERT INTO voice_stat_daily (guild_id, day, channel_id, user_id, seconds)"
        " VALUES (:guild, current_date, :channel, :user, 60)"
    ),
    (
        "INSERT INTO starboard_entry (guild_id, message_id, channel_id, author_id, star_count)"
        " VALUES (:guild, :m1, :channel, :user, 1), (:guild, :m2, :channel, :other, 2)"
    ),
    (
        "INSERT INTO starboard_star (guild_id, message_id, user_id) VALUES (:guild, :m1, :other), (:guild, :m2, :user),"
        " (:guild, :m2, :mod)"
    ),
]


async def seed(db: Database) -> None:
    """USER in every table that can hold them, as the subject and as the actor; OTHER and MOD around them."""
    now = shifted_now()
    await db.guilds.join(GUILD)
    for member in (USER, OTHER):
        await db.members.ensure(GUILD, member)
    with acting_as(USER):
        await db.guild_config.update(GUILD, locale="fr")
        await db.levels.set_xp(GUILD, OTHER, 40)
    await db.afk.set(GUILD, USER, reason="lunch", until=now + timedelta(hours=1), now=now)
    await db.reminders.create(USER, content="call back", remind_at=now + timedelta(hours=1), guild_id=GUILD, now=now)
    await db.levels.award_message_xp(GUILD, USER, CHANNEL, now=now, roll=0.5)
    await db.cases.create(GUILD, USER, MOD, "WARN", reason="spam")
    await db.cases.create(GUILD, OTHER, USER, "WARN", reason="spam")
    await db.notes.create(GUILD, USER, MOD, "keeps spamming")
    await db.notes.create(GUILD, OTHER, USER, "written by the user")
    await db.blacklist.add("user", USER, reason="raid")
    await db.bookmarks.add(GUILD, OTHER, MESSAGES[3], channel_id=CHANNEL, author_id=USER, content="hi")
    await db.bookmarks.add(GUILD, USER, MESSAGES[0], channel_id=CHANNEL, author_id=OTHER, content="yo")
    params: dict[str, Any] = {
        "user": USER,
        "user_text": str(USER),
        "other": OTHER,
        "mod": MOD,
        "guild": GUILD,
        "channel": CHANNEL,
    }
    params |= {f"m{n}": message for n, message in enumerate(MESSAGES)}
    async with db.session() as session:
        await session.execute(text(_TRAIL))
        for statement in _ROWS:
            await session.execute(text(statement), params)
    await db.web_sessions.create(USER, {"guilds": [str(GUILD)]})
    await db.ratelimits.hit_user(USER, "5/minute")


async def _scalar(db: Database, sql: str, **params: Any) -> Any:
    async with db.session() as session:
        return (await session.execute(text(sql), params)).scalar_one()


async def test_after_erase_the_catalog_scan_finds_the_user_only_where_a_policy_keeps_them(db: Database) -> None:
    await seed(db)
    before = await db.privacy.locate(USER)
    assert len(before.remaining) > 30, before  # the seed reaches (nearly) every table
    request = await db.privacy.erase(USER, requested_by=MOD)
    assert request.status is PrivacyRequestStatus.DONE
    after = await db.privacy.locate(USER)
    assert after.remaining == {}
    assert set(after.kept) == KEPT
    # what the policies promised, row by row
    assert await _scalar(db, "SELECT count(*) FROM job WHERE dedupe_key LIKE '%' || :u || '%'", u=str(USER)) == 0
    assert await _scalar(db, "SELECT count(*) FROM reminder WHERE user_id = :u", u=USER) == 0
    assert await _scalar(db, "SELECT count(*) FROM job WHERE kind = 'reminder_delivery'") == 0
    tombstone_messages = "SELECT messages FROM message_stat_daily WHERE guild_id = :g AND user_id = :t"
    assert await _scalar(db, tombstone_messages, g=GUILD, t=TOMBSTONE_USER_ID) == 5  # the guild's total stands
    stars = "SELECT star_count FROM starboard_entry WHERE guild_id = :g AND message_id = :m"
    assert await _scalar(db, stars, g=GUILD, m=MESSAGES[2]) == 1  # the user's star no longer counts
    case = "SELECT moderator_id FROM mod_case WHERE guild_id = :g AND user_id = :o"
    assert await _scalar(db, case, g=GUILD, o=OTHER) == TOMBSTONE_USER_ID
    assert await _scalar(db, "SELECT count(*) FROM audit_log WHERE entity_id LIKE '%' || :u || '%'", u=str(USER)) == 0


async def test_erase_clears_redis_and_is_recorded_and_audited_without_the_erased_data(db: Database) -> None:
    await seed(db)
    board = await db.leaderboards.top(GUILD, 10, now=shifted_now())
    assert USER in [entry.user_id for entry in board.entries]
    request = await db.privacy.erase(USER, requested_by=MOD)
    # keys: the rate-limit window and the generation of the cached case summary
    assert request.counts["redis"] == {"web_sessions": 1, "leaderboard_entries": 4, "keys": 2}
    assert await db.web_sessions.list_for_user(USER) == []
    assert [key async for key in db.redis.scan_iter(match=f"*{USER}*")] == []
    assert USER not in [entry.user_id for entry in (await db.leaderboards.top(GUILD, 10, now=shifted_now())).entries]
    assert request.counts["member"] == {"delete": 1}
    assert request.counts["note"] == {"delete": 1, "anonymise": 1}
    assert (request.kind, request.user_id, request.requested_by) == (PrivacyRequestKind.ERASE, USER, MOD)
    assert request.finished_at is not None
    assert request.total > 25
    assert str(USER) not in json.dumps(dict(request.counts.items()))
    trail = await db.audit.for_entity("privacy_request", request.request_id)
    assert [row.action for row in trail] == [AuditAction.PRIVACY_ERASE]
    assert trail[0].actor_id == MOD  # nobody acting: the requester
    assert str(USER) not in json.dumps(trail[0].after)


async def test_a_second_erase_finds_nothing_and_both_are_recorded(db: Database) -> None:
    await seed(db)
    first = await db.privacy.erase(USER, requested_by=USER)
    second = await db.privacy.erase(USER, requested_by=USER)
    assert first.total > 0
    assert (second.status, second.total) == (PrivacyRequestStatus.DONE, 0)
    assert second.counts["redis"] == {"web_sessions": 0, "leaderboard_entries": 0, "keys": 0}
    assert [r.request_id for r in await db.privacy.requests(USER)] == [first.request_id, second.request_id]
    located = await db.privacy.locate(USER)
    assert located.remaining == {}
    # asked by the user themselves: the requests and their audit rows keep who asked
    assert set(located.kept) == {*KEPT, "privacy_request.requested_by", "audit_log.actor_id"}


async def test_export_streams_every_row_about_the_user_and_what_redis_holds(db: Database) -> None:
    await seed(db)
    out = io.StringIO()
    request = await db.privacy.export_to(out, USER, requested_by=USER)
    document = json.loads(out.getvalue())
    assert document["user_id"] == str(USER)
    tables = document["tables"]
    assert [row["user_id"] for row in tables["member"]] == [str(USER)]
    assert {row["user_id"] for row in tables["mod_case"]} == {str(USER), str(OTHER)}  # subject, and moderator
    assert tables["reminder"][0]["content"] == "call back"
    assert tables["command_log"][1]["params"] == {"member": str(USER)}  # someone else's command naming them
    assert set(document["redis"]) == {"web_sessions", "leaderboards", "keys"}
    assert document["redis"]["web_sessions"][0]["data"] == {"guilds": [str(GUILD)]}
    assert {entry["board"] for entry in document["redis"]["leaderboards"]} >= {"all"}
    assert any("{u:" + str(USER) + "}" in entry["key"] for entry in document["redis"]["keys"])
    assert request.status is PrivacyRequestStatus.DONE
    assert request.counts["member"] == {"export": 1}
    assert (await db.privacy.locate(USER)).remaining != {}  # export changes nothing


async def test_export_is_streamed_in_chunks_a_table_at_a_time(db: Database) -> None:
    await seed(db)
    chunks = [chunk async for chunk in db.privacy.export(USER, requested_by=USER)]
    finished = [chunk.table for chunk in chunks if chunk.done]
    assert finished[-1] == "redis"
    assert len(finished) == len(set(finished))
    assert json.loads("".join(chunk.text for chunk in chunks))["tables"].keys() == set(finished) - {"redis"}


async def test_erase_steps_report_each_table_and_stopping_early_erases_nothing(db: Database) -> None:
    await seed(db)
    steps = db.privacy.erase_steps(USER, requested_by=MOD)
    first = await anext(steps)
    await steps.aclose()
    assert first.table
    assert (await db.privacy.locate(USER)).remaining.get("member.user_id") == 1
    failed = (await db.privacy.requests(USER))[-1]
    assert (failed.status, failed.error) == (PrivacyRequestStatus.FAILED, "GeneratorExit")
    steps = db.privacy.erase_steps(USER, requested_by=MOD)
    tables = [step.table async for step in steps]
    assert tables[-1] == "redis"
    assert "member" in tables


async def test_arguments_are_refused_before_anything_is_recorded(db: Database) -> None:
    with pytest.raises(ValidationError, match="user_id"):
        await db.privacy.erase(TOMBSTONE_USER_ID, requested_by=MOD)
    with pytest.raises(ValidationError, match="requested_by"):
        db.privacy.export(USER, requested_by=0)
    assert await db.privacy.requests(USER) == []
