import asyncio
import io
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select, text

from guildbase import Database, Settings
from guildbase.db.context import acting_as
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.models.audit import AuditAction
from guildbase.models.core import GuildCounter
from guildbase.models.moderation import CaseStatus, CaseType, Restriction
from guildbase.testing import ids, statements_on

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
OTHER_GUILD = BLOCK + 2
MISSING_GUILD = BLOCK + 999
USER = BLOCK + 101
OTHER_USER = BLOCK + 102
MOD = BLOCK + 201
OTHER_MOD = BLOCK + 202
ROLES = [BLOCK + 301, BLOCK + 302, BLOCK + 303]


def later(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


@pytest.fixture
async def guild(db: Database) -> int:
    await db.guilds.join(GUILD, name="Mods")
    return GUILD


async def counter_value(db: Database, guild_id: int, kind: str) -> int:
    async with db.session() as session:
        stmt = select(GuildCounter.last_value).where(GuildCounter.guild_id == guild_id, GuildCounter.kind == kind)
        return int((await session.execute(stmt)).scalar_one_or_none() or 0)


async def row_count(db: Database, table: str) -> int:
    async with db.session() as session:
        return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


# -- create / get ------------------------------------------------------------------------
async def test_create_numbers_cases_per_guild_and_get_finds_them(db: Database, guild: int) -> None:
    await db.guilds.join(OTHER_GUILD)
    first = await db.cases.create(guild, USER, MOD, CaseType.WARN, reason="spam")
    second = await db.cases.create(guild, USER, MOD, "kick")
    elsewhere = await db.cases.create(OTHER_GUILD, USER, MOD, CaseType.BAN)

    assert (first.number, second.number, elsewhere.number) == (1, 2, 1)
    assert second.type is CaseType.KICK
    found = await db.cases.get(guild, 1)
    assert found is not None
    assert (found.reason, found.status, found.user_id, found.moderator_id) == ("spam", CaseStatus.ACTIVE, USER, MOD)
    assert await db.cases.get(guild, 3) is None


async def test_create_stores_roles_expiry_log_message_details_and_actor(db: Database, guild: int) -> None:
    expires = later(hours=2)
    with acting_as(MOD):
        case = await db.cases.create(
            guild,
            USER,
            MOD,
            CaseType.TEMPBAN,
            role_ids=ROLES,
            expires_at=expires,
            mod_log_message_id=ROLES[0],
            details={"dm_sent": True},
        )
    assert case.role_ids == ROLES
    assert case.expires_at == expires
    assert case.mod_log_message_id == ROLES[0]
    assert case.details == {"dm_sent": True}
    assert case.created_by == MOD
    assert case.processed_at is None


BAD_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown type", {"case_type": "SMITE"}, "case_type"),
    ("temporary type without expiry", {"case_type": CaseType.TEMPBAN}, "expires_at"),
    ("timeout without expiry", {"case_type": CaseType.TIMEOUT}, "expires_at"),
    ("expiry in the past", {"case_type": CaseType.TIMEOUT, "expires_at": later(minutes=-1)}, "expires_at"),
    ("naive expiry", {"case_type": CaseType.TEMPBAN, "expires_at": datetime(2099, 1, 1)}, "expires_at"),  # noqa: DTZ001
    ("expiry on a type that cannot expire", {"case_type": CaseType.WARN, "expires_at": later(days=1)}, "expires_at"),
    ("expiry on a ban", {"case_type": CaseType.BAN, "expires_at": later(days=1)}, "expires_at"),
    ("reason over the limit", {"reason": "x" * 513}, "reason"),
    ("zero user", {"user_id": 0}, "user_id"),
    ("negative moderator", {"moderator_id": -5}, "moderator_id"),
    ("text moderator", {"moderator_id": "mod"}, "moderator_id"),
    ("future snowflake", {"user_id": 2**62}, "user_id"),
    ("bad role", {"role_ids": [ROLES[0], 0]}, "role_ids.1"),
    ("bad guild id", {"guild_id": True}, "guild_id"),
    ("guild that does not exist", {"guild_id": MISSING_GUILD}, "guild_id"),
]


@pytest.mark.parametrize(("overrides", "field"), [(o, f) for _, o, f in BAD_CASES], ids=[c[0] for c in BAD_CASES])
async def test_bad_case_input_names_the_field_and_writes_nothing(
    db: Database, guild: int, overrides: dict[str, Any], field: str
) -> None:
    arguments: dict[str, Any] = {"guild_id": guild, "user_id": USER, "moderator_id": MOD, "case_type": "WARN"}
    arguments |= overrides
    with pytest.raises(ValidationError) as raised:
        await db.cases.create(
            arguments.pop("guild_id"),
            arguments.pop("user_id"),
            arguments.pop("moderator_id"),
            arguments.pop("case_type"),
            **arguments,
        )
    assert field in raised.value.fields
    assert field.split(".", maxsplit=1)[0] in str(raised.value)
    assert await row_count(db, "mod_case") == 0
    assert await counter_value(db, guild, "case") == 0
    assert await counter_value(db, MISSING_GUILD, "case") == 0
    assert (await db.cases.create(guild, USER, MOD, CaseType.WARN)).number == 1


async def test_jail_may_be_timed_or_open_ended(db: Database, guild: int) -> None:
    open_ended = await db.cases.create(guild, USER, MOD, CaseType.JAIL)
    timed = await db.cases.create(guild, OTHER_USER, MOD, CaseType.JAIL, expires_at=later(days=1))
    assert open_ended.expires_at is None
    assert timed.expires_at is not None


# -- history ---------------------------------------------------------------------------------
async def test_history_is_newest_first_and_pages_by_number(db: Database, guild: int) -> None:
    for index in range(7):
        await db.cases.create(guild, USER, MOD, CaseType.WARN, reason=f"w{index}")
        await db.cases.create(guild, OTHER_USER, MOD, CaseType.WARN)

    pages: list[list[int]] = []
    before = None
    while page := await db.cases.history(guild, USER, limit=3, before=before):
        pages.append([case.number for case in page])
        before = page[-1].number

    assert pages == [[13, 11, 9], [7, 5, 3], [1]]
    assert {case.user_id for case in await db.cases.history(guild, USER, limit=100)} == {USER}


async def test_by_moderator_and_by_type_return_only_matching_cases_newest_first(db: Database, guild: int) -> None:
    await db.cases.create(guild, USER, MOD, CaseType.WARN)
    await db.cases.create(guild, USER, OTHER_MOD, CaseType.KICK)
    await db.cases.create(guild, OTHER_USER, MOD, CaseType.KICK)
    await db.cases.create(guild, OTHER_USER, OTHER_MOD, CaseType.WARN)

    assert [c.number for c in await db.cases.by_moderator(guild, MOD)] == [3, 1]
    assert [c.number for c in await db.cases.by_moderator(guild, OTHER_MOD, before=4)] == [2]
    assert [c.number for c in await db.cases.by_type(guild, "kick")] == [3, 2]
    assert [c.number for c in await db.cases.by_type(guild, CaseType.WARN, limit=1)] == [4]
    with pytest.raises(ValidationError, match="type"):
        await db.cases.by_type(guild, "SMITE")
    with pytest.raises(ValidationError, match="limit"):
        await db.cases.history(guild, USER, limit=0)
    with pytest.raises(ValidationError, match="before"):
        await db.cases.history(guild, USER, before=-1)


async def test_recent_lists_a_guilds_cases_in_a_time_window(db: Database, guild: int) -> None:
    await db.cases.create(guild, USER, MOD, CaseType.WARN)
    await db.cases.create(guild, OTHER_USER, MOD, CaseType.KICK)
    assert [c.number for c in await db.cases.recent(guild)] == [2, 1]
    assert await db.cases.recent(guild, since=later(hours=1)) == []
    assert await db.cases.recent(guild, until=later(hours=-1)) == []
    with pytest.raises(ValidationError, match="since"):
        await db.cases.recent(guild, since=datetime(2024, 1, 1))  # noqa: DTZ001


async def test_counts_by_type_ignore_voided_cases_and_other_users(db: Database, guild: int) -> None:
    for case_type in [CaseType.WARN, CaseType.WARN, CaseType.KICK, CaseType.WARN]:
        await db.cases.create(guild, USER, MOD, case_type)
    await db.cases.create(guild, OTHER_USER, MOD, CaseType.BAN)
    await db.cases.void(guild, 4)

    counts = await db.cases.counts(guild, USER)
    assert counts[CaseType.WARN] == 2
    assert counts[CaseType.KICK] == 1
    assert counts[CaseType.BAN] == 0
    assert set(counts) == set(CaseType)


async def test_overview_is_history_and_summary_in_one_statement(pooled_db: Database) -> None:
    db, guild = pooled_db, GUILD
    await db.guilds.join(guild)
    for case_type in [CaseType.WARN, CaseType.JAIL, CaseType.KICK, CaseType.WARN, CaseType.POLLBAN]:
        await db.cases.create(guild, USER, MOD, case_type)
    await db.cases.create(guild, OTHER_USER, MOD, CaseType.BAN)
    await db.cases.void(guild, 4)
    async with statements_on(db.engine) as statements:
        overview = await db.cases.overview(guild, USER, limit=3)
    assert len(statements) == 1, statements
    assert [c.number for c in overview.cases] == [5, 4, 3]
    assert overview.cases == await db.cases.history(guild, USER, limit=3)
    assert overview.summary == await db.cases.summary(guild, USER)
    assert overview.summary.counts[CaseType.WARN] == 1  # the voided warning does not count
    assert overview.summary.restrictions == {Restriction.JAIL: True, Restriction.SNIPPET: False, Restriction.POLL: True}


async def test_overview_of_a_user_without_cases_is_empty_and_bad_ids_are_refused(db: Database, guild: int) -> None:
    overview = await db.cases.overview(guild, OTHER_USER)
    assert overview.cases == []
    assert set(overview.summary.counts.values()) == {0}
    assert not any(overview.summary.restrictions.values())
    with pytest.raises(ValidationError, match="user_id"):
        await db.cases.overview(guild, 0)
    with pytest.raises(ValidationError, match="limit"):
        await db.cases.overview(guild, USER, limit=0)


# -- edits -----------------------------------------------------------------------------------
async def test_update_reason_records_before_and_after_and_who(db: Database, guild: int) -> None:
    await db.cases.create(guild, USER, MOD, CaseType.WARN, reason="spam")
    with acting_as(OTHER_MOD):
        updated = await db.cases.update_reason(guild, 1, "spam in #general")
    assert updated.reason == "spam in #general"
    assert updated.updated_by == OTHER_MOD

    with pytest.raises(ValidationError, match="reason"):
        await db.cases.update_reason(guild, 1, "x" * 513)
    changes = await db.cases.changes(guild, 1)
    assert [(c.action, c.before, c.after, c.actor_id) for c in changes] == [
        (AuditAction.CASE_REASON, {"reason": "spam"}, {"reason": "spam in #general"}, OTHER_MOD)
    ]


async def test_void_keeps_the_case_but_marks_it_and_refuses_twice(db: Database, guild: int) -> None:
    await db.cases.create(guild, USER, MOD, CaseType.BAN)
    voided = await db.cases.void(guild, 1, actor_id=OTHER_MOD)
    assert voided.status is CaseStatus.VOIDED
    with pytest.raises(ConflictError, match="already voided"):
        await db.cases.void(guild, 1)
    [change] = await db.cases.changes(guild, 1)
    assert (change.action, change.before, change.after) == (
        AuditAction.CASE_VOID,
        {"status": "active"},
        {"status": "voided"},
    )
    assert [c.number for c in await db.cases.history(guild, USER)] == [1]


async def test_edits_of_missing_cases_raise_not_found(db: Database, guild: int) -> None:
    with pytest.raises(NotFoundError, match="#5"):
        await db.cases.update_reason(guild, 5, "x")
    with pytest.raises(NotFoundError):
        await db.cases.void(guild, 5)
    with pytest.raises(NotFoundError):
        await db.cases.mark_expired(guild, 5)
    with pytest.raises(ValidationError, match="number"):
        await db.cases.get(guild, 0)


async def test_set_mod_log_message_remembers_the_posted_message(db: Database, guild: int) -> None:
    await db.cases.create(guild, USER, MOD, CaseType.WARN)
    case = await db.cases.set_mod_log_message(guild, 1, ROLES[2])
    assert case.mod_log_message_id == ROLES[2]
    with pytest.raises(ValidationError, match="message_id"):
        await db.cases.set_mod_log_message(guild, 1, -1)


# -- restrictions -----------------------------------------------------------------------------
async def test_jail_then_unjail_restores_the_saved_roles(db: Database, guild: int) -> None:
    assert await db.cases.jail_roles(guild, USER) == []
    await db.cases.create(guild, USER, MOD, CaseType.JAIL, role_ids=ROLES)
    assert await db.cases.is_jailed(guild, USER)
    assert not await db.cases.is_jailed(guild, OTHER_USER)

    roles_to_restore = await db.cases.jail_roles(guild, USER)
    await db.cases.create(guild, USER, MOD, CaseType.UNJAIL)

    assert roles_to_restore == ROLES
    assert not await db.cases.is_jailed(guild, USER)
    await db.cases.create(guild, USER, MOD, CaseType.JAIL, role_ids=ROLES[:1])
    assert await db.cases.is_jailed(guild, USER)
    assert await db.cases.jail_roles(guild, USER) == ROLES[:1]


async def test_restriction_state_follows_the_latest_case_of_each_pair(db: Database, guild: int) -> None:
    await db.cases.create(guild, USER, MOD, CaseType.SNIPPETBAN)
    await db.cases.create(guild, USER, MOD, CaseType.POLLBAN)
    await db.cases.create(guild, USER, MOD, CaseType.SNIPPETUNBAN)
    await db.cases.create(guild, USER, MOD, CaseType.WARN)

    assert not await db.cases.is_snippet_banned(guild, USER)
    assert await db.cases.is_poll_banned(guild, USER)
    assert await db.cases.restrictions(guild, USER) == {
        Restriction.JAIL: False,
        Restriction.SNIPPET: False,
        Restriction.POLL: True,
    }
    await db.cases.create(guild, USER, MOD, CaseType.POLLUNBAN)
    await db.cases.create(guild, USER, MOD, CaseType.SNIPPETBAN)
    assert await db.cases.restrictions(guild, USER) == {
        Restriction.JAIL: False,
        Restriction.SNIPPET: True,
        Restriction.POLL: False,
    }


async def test_voided_and_expired_jails_do_not_restrict(db: Database, guild: int) -> None:
    await db.cases.create(guild, USER, MOD, CaseType.JAIL, role_ids=ROLES)
    await db.cases.create(guild, USER, MOD, CaseType.UNJAIL)
    await db.cases.create(guild, USER, MOD, CaseType.JAIL, role_ids=ROLES[:1])
    await db.cases.void(guild, 3)
    assert not await db.cases.is_jailed(guild, USER)
    assert await db.cases.jail_roles(guild, USER) == ROLES

    await db.cases.create(guild, OTHER_USER, MOD, CaseType.JAIL, expires_at=later(hours=1))
    assert await db.cases.is_jailed(guild, OTHER_USER)
    assert await db.cases.mark_expired(guild, 4)
    assert not await db.cases.is_jailed(guild, OTHER_USER)


# -- expiry mechanics ------------------------------------------------------------------------------
async def test_mark_expired_and_mark_processed_are_idempotent(db: Database, guild: int) -> None:
    await db.cases.create(guild, USER, MOD, CaseType.TEMPBAN, expires_at=later(minutes=1))
    await db.cases.create(guild, USER, MOD, CaseType.TIMEOUT, expires_at=later(minutes=1))
    assert await db.cases.mark_expired(guild, 1)
    assert not await db.cases.mark_expired(guild, 1)
    assert await db.cases.mark_processed(guild, 2)
    assert not await db.cases.mark_processed(guild, 2)
    assert not await db.cases.mark_processed(guild, 1)

    first, second = await db.cases.get(guild, 1), await db.cases.get(guild, 2)
    assert first is not None
    assert second is not None
    assert (first.status, first.processed_at is not None) == (CaseStatus.EXPIRED, True)
    assert (second.status, second.processed_at is not None) == (CaseStatus.ACTIVE, True)
    assert [c.action for c in await db.cases.changes(guild, 1)] == [AuditAction.CASE_EXPIRE]


TOTAL = 200


async def _create(db: Database, kind: str, index: int) -> int:
    if kind == "case":
        return (await db.cases.create(GUILD, USER + index % 5, MOD, CaseType.WARN, reason=f"r{index}")).number
    return (await db.notes.create(GUILD, USER + index % 5, MOD, f"n{index}")).number


async def _numbers(db: Database, kind: str) -> list[int]:
    table = "mod_case" if kind == "case" else "note"
    async with db.session() as session:
        rows = await session.execute(
            text(f"SELECT number FROM {table} WHERE guild_id = :g ORDER BY number"), {"g": GUILD}
        )
        return [int(number) for number in rows.scalars()]


@pytest.mark.parametrize("kind", ["case", "note"])
async def test_numbers_stay_contiguous_under_32_concurrent_tasks(pooled_db: Database, kind: str) -> None:
    await pooled_db.guilds.join(GUILD)
    per_task = [range(task, TOTAL, 32) for task in range(32)]

    async def worker(indexes: range) -> list[int]:
        return [await _create(pooled_db, kind, index) for index in indexes]

    results = await asyncio.gather(*(worker(indexes) for indexes in per_task))

    returned = sorted(number for numbers in results for number in numbers)
    assert returned == list(range(1, TOTAL + 1))
    assert await _numbers(pooled_db, kind) == list(range(1, TOTAL + 1))


START_GATE = 4_242_001
PROCESS_SCRIPT = """
import asyncio, sys
from sqlalchemy import text
from guildbase import Database
from guildbase.models.moderation import CaseType

url, kind, guild, user, mod, first, count, gate = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])

async def main() -> None:
    db = await Database.from_url(url, pool_size=4).connect()
    async with db.engine.connect() as connection:  # wait at the gate the test holds
        await connection.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": gate})
        await connection.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": gate})
    async def one(index: int) -> None:
        if kind == "case":
            await db.cases.create(guild, user, mod, CaseType.WARN)
        else:
            await db.notes.create(guild, user, mod, f"n{index}")
    await asyncio.gather(*(one(i) for i in range(first, first + count)))
    await db.close()

asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["case", "note"])
async def test_numbers_stay_contiguous_across_processes(pooled_db: Database, settings: Settings, kind: str) -> None:
    await pooled_db.guilds.join(GUILD)
    assert settings.database_url is not None
    async with pooled_db.engine.connect() as gate:
        await gate.execute(text("SELECT pg_advisory_lock(:k)"), {"k": START_GATE})
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                PROCESS_SCRIPT,
                settings.database_url,
                kind,
                str(GUILD),
                str(USER),
                str(MOD),
                str(first),
                str(TOTAL // 2),
                str(START_GATE),
                stderr=asyncio.subprocess.PIPE,
            )
            for first in (0, TOTAL // 2)
        ]
        waiting = 0
        while waiting < len(processes):  # both processes connected and blocked at the gate
            exited = [p for p in processes if p.returncode is not None]
            assert not exited, (await exited[0].communicate())[1].decode()
            await asyncio.sleep(0.05)
            result = await gate.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :k AND NOT granted"),
                {"k": START_GATE},
            )
            waiting = int(result.scalar_one())
        await gate.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": START_GATE})
        await gate.commit()
    outcomes = [await p.communicate() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err.decode()[-2000:] for _, err in outcomes]

    assert await _numbers(pooled_db, kind) == list(range(1, TOTAL + 1))
    assert await counter_value(pooled_db, GUILD, kind) == TOTAL


# -- demo -------------------------------------------------------------------------------------------------
async def test_demo_seeds_cases_and_notes_and_prints_moderation_history(
    pooled_db: Database, settings: Settings
) -> None:
    from guildbase.demo import MODERATION_SCRIPT, demo_guild_id, run_demo  # noqa: PLC0415

    output = io.StringIO()
    console = Console(file=output, width=200)
    await run_demo(settings, console, guilds=1, members=3, keep_running=False)
    await run_demo(settings, console, guilds=1, members=3, keep_running=False)  # re-running adds nothing

    first = demo_guild_id(0)
    cases = await pooled_db.cases.recent(first, limit=100)
    assert [c.number for c in cases] == list(range(len(MODERATION_SCRIPT), 0, -1))
    assert await pooled_db.notes.get(first, 2) is not None
    assert await pooled_db.notes.get(first, 3) is None
    printed = output.getvalue()
    assert f"Moderation history of guild {first}" in printed
    assert "TEMPBAN" in printed
    assert "voided" in printed
    async with pooled_db.session() as session:
        edits = text(  # the changes after creation: what the old moderation_change table held
            "SELECT count(*) FROM audit_log WHERE guild_id = :guild AND action IN "
            "('case_reason', 'case_void', 'case_expire', 'note_edit', 'note_delete')"
        )
        changes = (await session.execute(edits, {"guild": first})).scalar_one()
    assert changes == 2
