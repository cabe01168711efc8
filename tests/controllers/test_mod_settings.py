"""Moderation settings (R4.3): switches, per-type durations and log channels, and warn escalation.

Escalation is proven where it matters: the follow-up case commits with the warn
that crosses the threshold (and rolls back with it), and exactly one follow-up
is made when many warns race, in one process (tasks) and across two processes.
"""

import asyncio
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from guildbase import Database, Settings
from guildbase.controllers.mod_settings import mod_settings_key
from guildbase.db.context import acting_as
from guildbase.db.types import utcnow
from guildbase.errors import ValidationError
from guildbase.models.mod_settings import EscalationRule, ModActionConfig, ModConfig
from guildbase.models.moderation import CaseCreate, CaseRead, CaseStatus, CaseType
from guildbase.testing import statements_on

pytestmark = pytest.mark.clock  # windows and expiries are measured from now

GUILD = 1_100_000_000_000_000_001
OTHER_GUILD = 1_100_000_000_000_000_002
MISSING_GUILD = 1_100_000_000_000_000_999
USER = 1_100_000_000_000_000_101
OTHER_USER = 1_100_000_000_000_000_102
MOD = 1_100_000_000_000_000_201
CHANNEL = 1_100_000_000_000_000_301
OTHER_CHANNEL = 1_100_000_000_000_000_302
ADMIN = 1_100_000_000_000_000_401
WEEK = timedelta(days=7)
HOUR = timedelta(hours=1)


@pytest.fixture
async def guild(db: Database) -> int:
    await db.guilds.join(GUILD)
    await db.guilds.join(OTHER_GUILD)
    return GUILD


async def rows(db: Database, model: type) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def warn(db: Database, user: int = USER, reason: str = "spam") -> CaseRead:
    return await db.cases.create(GUILD, user, MOD, CaseType.WARN, reason=reason)


async def cases(db: Database, guild_id: int = GUILD) -> list[tuple[int, str, str | None]]:
    found = await db.cases.recent(guild_id, limit=100)
    return sorted((c.number, c.type.value, c.details.get("escalated_from")) for c in found)


# -- switches, durations, log channels ---------------------------------------------------------
async def test_a_guild_without_settings_gets_the_defaults(db: Database, guild: int) -> None:
    settings = await db.mod_settings.get(guild)
    assert (settings.is_user_notified, settings.is_reason_required) == (False, False)
    assert settings.actions == []
    assert settings.rules == []
    assert settings.default_duration(CaseType.TEMPBAN) is None
    assert settings.log_channel(CaseType.BAN) is None
    assert await rows(db, ModConfig) == 0  # reading writes nothing


async def test_switches_change_only_what_is_given_and_record_the_actor(db: Database, guild: int) -> None:
    with acting_as(ADMIN):
        first = await db.mod_settings.configure(guild, is_user_notified=True)
    assert (first.is_user_notified, first.is_reason_required) == (True, False)
    second = await db.mod_settings.configure(guild, {"is_reason_required": True})
    assert (second.is_user_notified, second.is_reason_required) == (True, True)
    async with db.session() as session:
        row = await session.get(ModConfig, guild)
        assert row is not None
        assert (row.created_by, row.updated_by) == (ADMIN, ADMIN)  # the second write had nobody acting


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda db: db.mod_settings.configure(GUILD, is_user_notified="yes"), "is_user_notified"),
        (lambda db: db.mod_settings.configure(GUILD, dm=True), "dm"),
        (lambda db: db.mod_settings.set_default_duration(GUILD, "ban", HOUR), "default_duration_seconds"),
        (
            lambda db: db.mod_settings.set_default_duration(GUILD, "timeout", timedelta(days=29)),
            "default_duration_seconds",
        ),
        (lambda db: db.mod_settings.set_default_duration(GUILD, "tempban", timedelta(0)), "duration"),
        (lambda db: db.mod_settings.set_default_duration(GUILD, "soon", HOUR), "case_type"),
        (lambda db: db.mod_settings.set_log_channel(GUILD, "ban", 0), "channel_id"),
        (lambda db: db.mod_settings.set_log_channel(MISSING_GUILD, "ban", CHANNEL), "guild_id"),
        (lambda db: db.mod_settings.set_rule(GUILD, 1, within=WEEK, action="kick"), "warn_count"),
        (lambda db: db.mod_settings.set_rule(GUILD, 3, within=WEEK, action="warn"), "action"),
        (lambda db: db.mod_settings.set_rule(GUILD, 3, within=WEEK, action="timeout"), "duration_seconds"),
        (lambda db: db.mod_settings.set_rule(GUILD, 3, within=WEEK, action="kick", duration=HOUR), "duration_seconds"),
        (
            lambda db: db.mod_settings.set_rule(GUILD, 3, within=WEEK, action="timeout", duration=timedelta(days=30)),
            "duration_seconds",
        ),
        (lambda db: db.mod_settings.set_rule(GUILD, 3, within=timedelta(days=400), action="ban"), "window_seconds"),
        (lambda db: db.mod_settings.set_rule(MISSING_GUILD, 3, within=WEEK, action="ban"), "guild_id"),
    ],
)
async def test_bad_settings_name_the_field_and_write_nothing(
    db: Database, guild: int, call: object, field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        await call(db)  # type: ignore[operator]
    assert field in raised.value.fields
    for model in (ModConfig, ModActionConfig, EscalationRule):
        assert await rows(db, model) == 0


async def test_default_durations_and_log_channels_are_per_type_and_clearing_keeps_the_other(
    db: Database, guild: int
) -> None:
    await db.mod_settings.set_default_duration(guild, "tempban", timedelta(days=1))
    await db.mod_settings.set_default_duration(guild, "timeout", timedelta(minutes=10))
    settings = await db.mod_settings.set_log_channel(guild, "TEMPBAN", CHANNEL)
    assert settings.default_duration(CaseType.TEMPBAN) == timedelta(days=1)
    assert settings.default_duration(CaseType.TIMEOUT) == timedelta(minutes=10)
    assert settings.log_channel(CaseType.TEMPBAN) == CHANNEL
    assert settings.log_channel(CaseType.TIMEOUT) is None

    settings = await db.mod_settings.set_default_duration(guild, "tempban", None)
    assert settings.default_duration(CaseType.TEMPBAN) is None
    assert settings.log_channel(CaseType.TEMPBAN) == CHANNEL  # the other setting of the type stays
    settings = await db.mod_settings.set_log_channel(guild, "tempban", None)
    assert [a.type for a in settings.actions] == [CaseType.TIMEOUT]  # a row with nothing set is gone
    assert await rows(db, ModActionConfig) == 1
    assert (await db.mod_settings.get(OTHER_GUILD)).actions == []


async def test_settings_are_cached_and_each_write_drops_the_cached_value(
    db: Database, guild: int, redis_client: object
) -> None:
    await db.mod_settings.get(guild)
    assert await db.redis.exists(mod_settings_key(guild)) == 1
    async with db.session() as session:  # a change behind the controller's back stays unseen
        await session.execute(
            text("INSERT INTO mod_config (guild_id, is_reason_required) VALUES (:g, true)"), {"g": guild}
        )
    assert (await db.mod_settings.get(guild)).is_reason_required is False
    settings = await db.mod_settings.set_log_channel(guild, "ban", CHANNEL)  # a write drops the cached value
    assert settings.is_reason_required is True
    assert (await db.mod_settings.get(guild)).log_channel(CaseType.BAN) == CHANNEL
    assert (await db.mod_settings.get(guild)).is_reason_required is True


# -- escalation rules ----------------------------------------------------------------------------
async def test_a_rule_for_the_same_warn_count_replaces_the_old_one_and_can_be_removed(db: Database, guild: int) -> None:
    with acting_as(ADMIN):
        first = await db.mod_settings.set_rule(guild, 3, within=WEEK, action="timeout", duration=HOUR)
    assert (first.window, first.action, first.duration, first.created_by) == (WEEK, CaseType.TIMEOUT, HOUR, ADMIN)
    replaced = await db.mod_settings.set_rule(guild, 3, within=timedelta(days=1), action="KICK")
    assert (replaced.window, replaced.action, replaced.duration) == (timedelta(days=1), CaseType.KICK, None)
    await db.mod_settings.set_rule(guild, 5, within=WEEK, action="tempban", duration=timedelta(days=2))
    assert [r.warn_count for r in (await db.mod_settings.get(guild)).rules] == [5, 3]
    assert await db.mod_settings.remove_rule(guild, 3) is True
    assert await db.mod_settings.remove_rule(guild, 3) is False
    assert [r.warn_count for r in (await db.mod_settings.get(guild)).rules] == [5]


async def test_the_warn_that_reaches_the_count_is_followed_by_one_case_of_its_own(db: Database, guild: int) -> None:
    await db.mod_settings.set_rule(guild, 3, within=WEEK, action="timeout", duration=HOUR)
    first, second = await warn(db, reason="one"), await warn(db, reason="two")
    assert await db.mod_settings.escalation_of(guild, first.number) is None
    third = await warn(db, reason="three")
    follow_up = await db.mod_settings.escalation_of(guild, third.number)
    assert follow_up is not None
    assert (follow_up.number, follow_up.type, follow_up.user_id) == (4, CaseType.TIMEOUT, USER)
    assert follow_up.moderator_id == MOD
    assert follow_up.details == {
        "escalated_from": 3,
        "rule": {"warn_count": 3, "window_seconds": int(WEEK.total_seconds())},
        "automatic": True,
    }
    assert follow_up.reason == "automatic: 3 warns within 1w (warn #3)"
    assert follow_up.expires_at is not None
    assert utcnow() + HOUR - timedelta(minutes=1) < follow_up.expires_at <= utcnow() + HOUR
    kinds = {k.kind: k.scheduled for k in await db.jobs.status()}
    assert kinds == {"timeout_expiry": 1}  # it expires like any timeout
    fourth = await warn(db, reason="four")  # above the threshold, not crossing it
    assert await db.mod_settings.escalation_of(guild, fourth.number) is None
    assert await cases(db) == [
        (1, "WARN", None),
        (2, "WARN", None),
        (3, "WARN", None),
        (4, "TIMEOUT", 3),
        (5, "WARN", None),
    ]
    assert second.number == 2


async def test_the_highest_rule_reached_wins_and_each_threshold_fires_once(db: Database, guild: int) -> None:
    await db.mod_settings.set_rule(guild, 2, within=WEEK, action="timeout", duration=HOUR)
    await db.mod_settings.set_rule(guild, 4, within=WEEK, action="tempban", duration=timedelta(days=1))
    for _ in range(5):
        await warn(db)
    await warn(db, user=OTHER_USER)  # another user's warns are counted apart
    found = await cases(db)
    assert [(t, source) for _, t, source in found if source is not None] == [("TIMEOUT", 2), ("TEMPBAN", 5)]
    assert [number for number, t, _ in found if t == "WARN"] == [1, 2, 4, 5, 7, 8]


async def test_voided_warns_and_warns_outside_the_window_do_not_count(db: Database, guild: int) -> None:
    await db.mod_settings.set_rule(guild, 3, within=WEEK, action="kick")
    old, voided = await warn(db), await warn(db)
    async with db.session() as session:  # the first warn is eight days old
        await session.execute(
            text("UPDATE mod_case SET created_at = now() - interval '8 days' WHERE guild_id = :g AND number = :n"),
            {"g": guild, "n": old.number},
        )
    await db.cases.void(guild, voided.number)
    await warn(db)
    await warn(db)
    assert [t for _, t, _ in await cases(db)] == ["WARN"] * 4  # live warns in the window: 2
    crossing = await warn(db)
    follow_up = await db.mod_settings.escalation_of(guild, crossing.number)
    assert follow_up is not None
    assert (follow_up.type, follow_up.expires_at) == (CaseType.KICK, None)


async def test_an_escalation_commits_and_rolls_back_with_its_warn(db: Database, guild: int) -> None:
    await db.mod_settings.set_rule(guild, 2, within=WEEK, action="ban")
    await warn(db)
    checked = CaseCreate(guild_id=guild, type="WARN", user_id=USER, moderator_id=MOD)
    with pytest.raises(RuntimeError, match="after the warn"):
        async with db.session() as session:
            created = await db.cases.create_in(session, checked)
            assert created.number == 2  # its ban (case 3) is in this transaction too
            raise RuntimeError("the caller fails after the warn")
    assert await cases(db) == [(1, "WARN", None)]  # neither the warn nor its ban
    crossing = await warn(db)
    assert crossing.number == 2  # the rolled-back numbers were given back
    follow_up = await db.mod_settings.escalation_of(guild, crossing.number)
    assert follow_up is not None
    assert follow_up.type is CaseType.BAN


async def test_a_warn_in_a_guild_without_rules_stays_one_statement(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    await pooled_db.mod_settings.get(GUILD)  # warm: the rules are read from the cache
    async with statements_on(pooled_db.engine) as statements:
        await warn(pooled_db)
    assert len(statements) == 1, statements
    await pooled_db.mod_settings.set_rule(GUILD, 3, within=WEEK, action="kick")
    await pooled_db.mod_settings.get(GUILD)
    async with statements_on(pooled_db.engine) as statements:
        await warn(pooled_db)
    assert any("pg_advisory_xact_lock" in s for s in statements), statements


# -- concurrency ------------------------------------------------------------------------------
def escalations(found: list[tuple[int, str, str | None]]) -> list[tuple[str, int]]:
    """(type, warns before it) of every follow-up case: the count its warn reached."""
    return [
        (t, sum(1 for n, kind, _ in found if kind == "WARN" and n < number))
        for number, t, source in found
        if source is not None
    ]


async def test_concurrent_warns_escalate_exactly_once_per_threshold(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    await pooled_db.mod_settings.set_rule(GUILD, 3, within=WEEK, action="timeout", duration=HOUR)
    await pooled_db.mod_settings.set_rule(GUILD, 10, within=WEEK, action="tempban", duration=timedelta(days=1))
    await asyncio.gather(*(warn(pooled_db, reason=f"w{index}") for index in range(40)))
    found = await cases(pooled_db)
    assert escalations(found) == [("TIMEOUT", 3), ("TEMPBAN", 10)]
    assert [n for n, _, _ in found] == list(range(1, 43))  # 40 warns + 2 follow-ups, no gap
    for number, _, source in found:
        if source is not None:
            assert source == number - 1  # numbered right after the warn that caused it


START_GATE = 4_242_014
WARNS_PER_PROCESS = 15
RACE_SCRIPT = """
import asyncio, sys
from sqlalchemy import text
from guildbase import Database
from guildbase.models.moderation import CaseType

url, redis_url, guild, user, mod, count, gate = sys.argv[1], sys.argv[2] or None, *map(int, sys.argv[3:])

async def main() -> None:
    db = await Database.from_url(url, redis_url=redis_url, pool_size=4).connect()
    await db.mod_settings.get(guild)  # the rules are cached before the race starts
    async with db.engine.connect() as connection:  # wait at the gate the test holds
        await connection.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": gate})
        await connection.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": gate})
    await asyncio.gather(*(db.cases.create(guild, user, mod, CaseType.WARN, reason="race") for _ in range(count)))
    await db.close()

asyncio.run(main())
"""


@pytest.mark.slow
async def test_two_processes_racing_warns_escalate_exactly_once(pooled_db: Database, settings: Settings) -> None:
    await pooled_db.guilds.join(GUILD)
    await pooled_db.mod_settings.set_rule(GUILD, 3, within=WEEK, action="timeout", duration=HOUR)
    await pooled_db.mod_settings.set_rule(GUILD, 20, within=WEEK, action="ban")
    assert settings.database_url is not None
    async with pooled_db.engine.connect() as gate:
        await gate.execute(text("SELECT pg_advisory_lock(:k)"), {"k": START_GATE})
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                RACE_SCRIPT,
                settings.database_url,
                settings.redis_url or "",
                *(str(v) for v in (GUILD, USER, MOD, WARNS_PER_PROCESS, START_GATE)),
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
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

    found = await cases(pooled_db)
    assert escalations(found) == [("TIMEOUT", 3), ("BAN", 20)]
    assert [n for n, _, _ in found] == list(range(1, 2 * WARNS_PER_PROCESS + 3))
    statuses = {c.status for c in await pooled_db.cases.recent(GUILD, limit=100)}
    assert statuses == {CaseStatus.ACTIVE}
