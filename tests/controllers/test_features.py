"""Every feature toggle is obeyed: member operations refuse while it is off, admin calls never do."""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from guildbase import Database, FeatureDisabledError, ValidationError
from guildbase.controllers.base import Controller
from guildbase.controllers.features import AWAITING_DOMAIN, GATED, RAISES, GatedOperation
from guildbase.db.types import utcnow
from guildbase.models.core import Feature
from guildbase.models.events import InviteState
from guildbase.testing import ids, statements_on

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
USER = BLOCK + 101
AWAY = BLOCK + 102
STARRER = BLOCK + 103
AUTHOR = BLOCK + 104
CHANNEL = BLOCK + 301
BOARD = BLOCK + 302
MESSAGE = BLOCK + 501

Probe = Callable[[Database], Awaitable[Any]]


async def open_ticket(db: Database) -> Any:
    """Open a ticket from the guild's panel (``prepare`` makes it)."""
    return await db.tickets.open(GUILD, (await db.tickets.panels(GUILD))[0].panel_id, USER)


# One call per gated operation, named like ``GATED`` names it. A new gated
# method without a probe here fails ``test_every_feature_is_obeyed``.
PROBES: dict[str, Probe] = {
    "LevelsController.award_message_xp": lambda db: db.levels.award_message_xp(GUILD, USER, CHANNEL),
    "LevelsController.rank": lambda db: db.levels.rank(GUILD, USER),
    "LevelsController.leaderboard": lambda db: db.levels.leaderboard(GUILD),
    "LeaderboardController.top": lambda db: db.leaderboards.top(GUILD),
    "LeaderboardController.rank": lambda db: db.leaderboards.rank(GUILD, USER),
    "AFKController.set": lambda db: db.afk.set(GUILD, USER, reason="lunch"),
    "AFKController.get_many": lambda db: db.afk.get_many(GUILD, [AWAY, USER]),
    "StarboardController.add_star": lambda db: db.starboard.add_star(
        GUILD, MESSAGE, USER, channel_id=CHANNEL, author_id=AUTHOR
    ),
    "StarboardController.remove_star": lambda db: db.starboard.remove_star(GUILD, MESSAGE, STARRER),
    "ReminderController.create": lambda db: db.reminders.create(
        USER, content="stand up", remind_at=utcnow() + timedelta(hours=1), guild_id=GUILD
    ),
    "BookmarkController.add": lambda db: db.bookmarks.add(
        GUILD, USER, MESSAGE, channel_id=CHANNEL, author_id=AUTHOR, content="worth keeping"
    ),
    "EventController.record_guild_event": lambda db: db.events.record_guild_event(GUILD, "role_create"),
    "EventController.record_member_update": lambda db: db.events.record_member_update(GUILD, USER, nick_changed=True),
    "EventController.record_reaction": lambda db: db.events.record_reaction(GUILD, CHANNEL, MESSAGE, USER, "⭐"),
    "EventController.record_message": lambda db: db.events.record_message(GUILD, CHANNEL, USER),
    "VoiceSessions.voice_update": lambda db: db.events.voice_update(GUILD, USER, channel_id=CHANNEL),
    "VoiceSessions.record_voice_state": lambda db: db.events.record_voice_state(GUILD, USER, channel_id=CHANNEL),
    "InviteTracker.member_joined": lambda db: db.events.member_joined(GUILD, USER, invites_seen=False),
    "TicketController.open": open_ticket,
    "SnippetController.create": lambda db: db.snippets.create(GUILD, "new", "text", author_id=USER),
    "SnippetController.use": lambda db: db.snippets.use(GUILD, "faq"),
    "CustomCommandController.invoke": lambda db: db.custom_commands.invoke(GUILD, "greet", USER),
    "PollController.create": lambda db: db.polls.create(GUILD, CHANNEL, USER, "Lunch?", ["pizza", "sushi"]),
    "PollController.vote": lambda db: db.polls.vote(GUILD, 1, USER, 1),
    "PollController.retract": lambda db: db.polls.retract(GUILD, 1, USER),
    "InviteTracker.invite_created": lambda db: db.events.invite_created(GUILD, InviteState(code="probe", uses=0)),
    "InviteTracker.invite_deleted": lambda db: db.events.invite_deleted(GUILD, "probe"),
}


async def prepare(db: Database, feature: Feature) -> None:
    """While ``feature`` is on: the state its gated operations act on (a board, an AFK, a star)."""
    if feature is Feature.STARBOARD:
        await db.starboard.configure(GUILD, channel_id=BOARD, threshold=1)
        await db.starboard.add_star(GUILD, MESSAGE, STARRER, channel_id=CHANNEL, author_id=AUTHOR)
    if feature is Feature.AFK:
        await db.afk.set(GUILD, AWAY, reason="away")
    if feature is Feature.TICKETS:
        await db.tickets.create_panel(GUILD, "Support", open_limit=5)
    if feature is Feature.SNIPPETS:
        await db.snippets.create(GUILD, "faq", "Read the pins.", author_id=AUTHOR)
    if feature is Feature.CUSTOM_COMMANDS:
        await db.custom_commands.create(GUILD, "greet", "Hi!", author_id=AUTHOR)
    if feature is Feature.POLLS:
        await db.polls.create(GUILD, CHANNEL, AUTHOR, "Tea?", ["yes", "no"])


async def row_counts(db: Database) -> dict[str, int]:
    """Rows per table, every table of the schema: proves a refused call wrote nothing anywhere."""
    async with db.session() as session:
        return {
            table.name: (await session.execute(select(func.count()).select_from(table))).scalar_one()
            for table in SQLModel.metadata.sorted_tables
        }


def assert_off(operation: GatedOperation, outcome: Any) -> None:
    if operation.outcome == RAISES:
        assert isinstance(outcome, FeatureDisabledError), (operation.name, outcome)
        assert (outcome.feature, outcome.guild_id) == (operation.feature.value, GUILD)
        assert operation.feature.value in str(outcome)
    elif operation.name == "LevelsController.award_message_xp":
        assert outcome.is_feature_off, outcome
        assert not outcome.is_awarded
    else:
        assert outcome == {}, (operation.name, outcome)


def assert_on(operation: GatedOperation, outcome: Any) -> None:
    assert not isinstance(outcome, BaseException), (operation.name, outcome)
    if operation.name == "LevelsController.award_message_xp":
        assert outcome.is_awarded
        assert not outcome.is_feature_off
    if operation.name == "AFKController.get_many":
        assert AWAY in outcome


async def outcome_of(probe: Probe, db: Database) -> Any:
    try:
        return await probe(db)
    except FeatureDisabledError as error:
        return error


@pytest.mark.parametrize("feature", list(Feature))
async def test_every_feature_is_obeyed(db: Database, feature: Feature) -> None:
    operations = GATED[feature]
    if feature in AWAITING_DOMAIN:
        # No domain controller yet: the toggle is stored and read, and the test
        # fails as soon as that domain appears on the facade without a gate.
        assert not operations
        assert not hasattr(db, AWAITING_DOMAIN[feature]), f"db.{AWAITING_DOMAIN[feature]} exists: gate it"
        await db.guilds.join(GUILD)
        await db.guild_config.set_feature(GUILD, feature, enabled=False)
        assert not await db.guild_config.is_enabled(GUILD, feature)
        return
    assert operations, f"{feature.value}: no operation is gated by this feature; gate one with @gated"
    missing = [operation.name for operation in operations if operation.name not in PROBES]
    assert not missing, f"gated operations without a probe in this test: {missing}"

    await db.guilds.join(GUILD)
    await db.guild_config.set_feature(GUILD, feature, enabled=True)
    await prepare(db, feature)
    await db.guild_config.set_feature(GUILD, feature, enabled=False)
    before = await row_counts(db)
    for operation in operations:
        assert_off(operation, await outcome_of(PROBES[operation.name], db))
    assert await row_counts(db) == before

    await db.guild_config.set_feature(GUILD, feature, enabled=True)
    for operation in operations:
        assert_on(operation, await outcome_of(PROBES[operation.name], db))


def test_every_probe_names_a_gated_operation() -> None:
    gated = {operation.name for operations in GATED.values() for operation in operations}
    assert set(PROBES) == gated


def test_features_doc_lists_every_gated_operation(project_root: Path) -> None:
    doc = (project_root / "docs" / "features.md").read_text()
    for operations in GATED.values():
        for operation in operations:
            assert f"`{operation.name}`" in doc, f"docs/features.md does not list {operation.name}"
    for feature in Feature:
        assert f"`{feature.value}`" in doc, f"docs/features.md does not mention {feature.value}"


def test_every_gate_sits_on_a_facade_controller(db: Database) -> None:
    classes = {
        cls.__name__ for value in vars(db).values() if isinstance(value, Controller) for cls in type(value).mro()
    }
    for operations in GATED.values():
        for operation in operations:
            assert operation.name.split(".")[0] in classes, f"{operation.name} is not reachable from the facade"


async def test_the_award_reads_the_toggle_inside_its_one_statement(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    await pooled_db.guild_config.set_feature(GUILD, Feature.LEVELS, enabled=False)
    async with statements_on(pooled_db.engine) as statements:
        off = await pooled_db.levels.award_message_xp(GUILD, USER, CHANNEL)
    assert off.is_feature_off
    assert len(statements) == 1, statements
    await pooled_db.guild_config.set_feature(GUILD, Feature.LEVELS, enabled=True)
    async with statements_on(pooled_db.engine) as statements:
        on = await pooled_db.levels.award_message_xp(GUILD, USER, CHANNEL)
    assert on.is_awarded
    assert len(statements) == 1, statements
    assert await pooled_db.levels.get(GUILD, USER) is not None


async def test_a_cached_gate_costs_no_statement(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    await pooled_db.guild_config.set_feature(GUILD, Feature.AFK, enabled=False)
    await pooled_db.guild_config.features(GUILD)
    async with statements_on(pooled_db.engine) as statements:
        with pytest.raises(FeatureDisabledError):
            await pooled_db.afk.set(GUILD, USER)
        assert await pooled_db.afk.get_many(GUILD, [USER]) == {}
    assert statements == []


async def test_a_toggle_applies_to_the_very_next_call(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.bookmarks.add(GUILD, USER, MESSAGE, channel_id=CHANNEL, author_id=AUTHOR)
    await db.guild_config.features(GUILD)  # cached: set_feature must drop it
    await db.guild_config.set_feature(GUILD, Feature.BOOKMARKS, enabled=False)
    with pytest.raises(FeatureDisabledError):
        await db.bookmarks.add(GUILD, USER, MESSAGE + 1, channel_id=CHANNEL, author_id=AUTHOR)


async def test_a_bad_guild_id_is_named_before_the_gate_reads_anything(db: Database) -> None:
    for call in (
        db.afk.set("nope", USER),  # type: ignore[arg-type]
        db.afk.get_many(-1, [USER]),
        db.starboard.add_star(0, MESSAGE, USER, channel_id=CHANNEL, author_id=AUTHOR),
    ):
        with pytest.raises(ValidationError) as raised:
            await call
        assert raised.value.fields == ["guild_id"]


async def test_a_dm_reminder_is_not_gated_by_any_guild(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.guild_config.set_feature(GUILD, Feature.REMINDERS, enabled=False)
    reminder = await db.reminders.create(USER, content="drink water", remind_at=utcnow() + timedelta(hours=1))
    assert reminder.guild_id is None


async def test_admin_and_configuration_calls_work_while_every_feature_is_off(db: Database) -> None:
    await db.guilds.join(GUILD)
    for feature in Feature:
        await db.guild_config.set_feature(GUILD, feature, enabled=True)
    await db.starboard.configure(GUILD, channel_id=BOARD, threshold=1)
    await db.starboard.add_star(GUILD, MESSAGE, STARRER, channel_id=CHANNEL, author_id=AUTHOR)
    await db.afk.set(GUILD, AWAY)
    reminder = await db.reminders.create(USER, content="x", remind_at=utcnow() + timedelta(hours=1), guild_id=GUILD)
    await db.bookmarks.add(GUILD, USER, MESSAGE, channel_id=CHANNEL, author_id=AUTHOR)
    for feature in Feature:
        await db.guild_config.set_feature(GUILD, feature, enabled=False)
    assert not any((await db.guild_config.features(GUILD)).values())

    await db.guild_config.update(GUILD, prefix="!")
    assert (await db.levels.configure(GUILD, xp_min=5, xp_max=10)).xp_max == 10
    assert (await db.levels.get_config(GUILD)).xp_min == 5
    await db.levels.set_level_role(GUILD, 5, AUTHOR)
    assert [role.level for role in await db.levels.level_roles(GUILD)] == [5]
    await db.levels.set_multiplier(GUILD, "channel", CHANNEL, 2.0)
    assert len(await db.levels.multipliers(GUILD)) == 1
    assert (await db.levels.set_xp(GUILD, USER, 500)).xp == 500
    assert (await db.levels.get(GUILD, USER)) is not None
    await db.levels.blacklist(GUILD, USER)
    await db.levels.unblacklist(GUILD, USER)
    assert await db.levels.reset(GUILD, USER) == 1
    assert await db.leaderboards.rebuild(GUILD) >= 0
    assert (await db.starboard.configure(GUILD, threshold=2)).threshold == 2
    assert await db.starboard.get_config(GUILD) is not None
    assert await db.starboard.get_entry(GUILD, MESSAGE) is not None
    assert await db.starboard.star_count(GUILD, MESSAGE) == 1
    assert await db.afk.count(GUILD) == 1
    assert (await db.afk.clear(GUILD, AWAY)) is not None
    assert [r.reminder_id for r in await db.reminders.list_for_user(USER, guild_id=GUILD)] == [reminder.reminder_id]
    assert (await db.reminders.cancel(reminder.reminder_id, user_id=USER)).status == "cancelled"
    assert len(await db.bookmarks.list_for_user(USER, guild_id=GUILD)) == 1
    assert await db.bookmarks.delete(USER, MESSAGE)
