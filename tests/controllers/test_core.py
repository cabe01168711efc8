import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from guildbase import Database, NotFoundError, Settings, ValidationError, acting_as
from guildbase.db.types import utcnow
from guildbase.models.core import BlacklistTarget, Feature, Guild, GuildConfig, GuildFeature, Member
from guildbase.testing import ids, statements_on

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
OTHER_GUILD = BLOCK + 2
USER = BLOCK + 101
ADMIN = BLOCK + 201


async def _count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_join_creates_guild_with_default_config(db: Database) -> None:
    guild = await db.guilds.join(GUILD, name="Test")
    assert guild.guild_id == GUILD
    assert guild.left_at is None
    config = await db.guild_config.get(GUILD)
    assert config.prefixes == ["$"]
    assert config.locale == "en-US"


async def test_concurrent_joins_of_one_guild_create_exactly_one_guild_and_config(pooled_db: Database) -> None:
    await asyncio.gather(*(pooled_db.guilds.join(GUILD, name=f"n{i}") for i in range(20)))
    assert await _count(pooled_db, Guild) == 1
    assert await _count(pooled_db, GuildConfig) == 1


async def test_leave_then_rejoin_clears_left_at_and_keeps_config(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.guild_config.update(GUILD, prefix="!")
    assert await db.guilds.leave(GUILD) is True
    assert await db.guilds.leave(GUILD) is False
    left = await db.guilds.get(GUILD)
    assert left is not None
    assert left.left_at is not None
    rejoined = await db.guilds.join(GUILD)
    assert rejoined.left_at is None
    assert (await db.guild_config.get(GUILD)).prefix == "!"


async def test_config_update_changes_only_given_fields_and_records_the_actor(db: Database) -> None:
    await db.guilds.join(GUILD)
    with acting_as(ADMIN):
        updated = await db.guild_config.update(GUILD, {"prefix": "?"}, welcome_message="hi {user}")
    assert updated.prefix == "?"
    assert updated.welcome_message == "hi {user}"
    assert updated.locale == "en-US"
    assert updated.updated_by == ADMIN


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prefix": ""}, "prefix"),
        ({"prefix": "x" * 11}, "prefix"),
        ({"prefix": "a b"}, "prefix"),
        ({"mod_log_channel_id": -5}, "mod_log_channel_id"),
        ({"mod_log_channel_id": "abc"}, "mod_log_channel_id"),
        ({"locale": "english"}, "locale"),
        ({"welcome_message": "x" * 2001}, "welcome_message"),
        ({"no_such_setting": 1}, "no_such_setting"),
        ({"extra_prefixes": ["!", "!"]}, "extra_prefixes"),
    ],
)
async def test_bad_config_value_names_the_field_and_writes_nothing(
    db: Database, changes: dict[str, object], field: str
) -> None:
    await db.guilds.join(GUILD)
    before = await db.guild_config.get(GUILD)
    with pytest.raises(ValidationError) as raised:
        await db.guild_config.update(GUILD, changes)
    assert raised.value.fields == [field]
    assert field in str(raised.value)
    assert await db.guild_config.get(GUILD) == before


async def test_empty_prefix_error_says_the_rule(db: Database) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(ValidationError, match=r"prefix: must be 1-10 characters, got 0"):
        await db.guild_config.set_prefix(GUILD, "")


async def test_config_of_unknown_guild_is_not_found_with_a_hint(db: Database) -> None:
    with pytest.raises(NotFoundError, match=r"db.guilds.join"):
        await db.guild_config.get(GUILD)
    with pytest.raises(NotFoundError):
        await db.guild_config.update(GUILD, prefix="!")


async def test_extra_prefixes_are_added_removed_and_bounded(db: Database) -> None:
    await db.guilds.join(GUILD)
    assert await db.guild_config.add_prefix(GUILD, "!") == ["$", "!"]
    assert await db.guild_config.add_prefix(GUILD, "!") == ["$", "!"]  # adding again is a no-op
    assert await db.guild_config.add_prefix(GUILD, "$") == ["$", "!"]
    for prefix in ["a!", "b!", "c!", "d!"]:
        await db.guild_config.add_prefix(GUILD, prefix)
    with pytest.raises(ValidationError, match="extra_prefixes"):
        await db.guild_config.add_prefix(GUILD, "e!")
    assert await db.guild_config.remove_prefix(GUILD, "!") == ["$", "a!", "b!", "c!", "d!"]
    with pytest.raises(NotFoundError):
        await db.guild_config.remove_prefix(GUILD, "!")
    assert await db.guild_config.get_prefixes(GUILD) == ["$", "a!", "b!", "c!", "d!"]


async def test_concurrent_prefix_additions_are_all_kept(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    await asyncio.gather(*(pooled_db.guild_config.add_prefix(GUILD, f"p{i}") for i in range(5)))
    assert sorted(await pooled_db.guild_config.get_prefixes(GUILD)) == sorted(["$", *(f"p{i}" for i in range(5))])


async def test_feature_toggles_override_defaults_per_guild(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.guilds.join(OTHER_GUILD)
    assert await db.guild_config.is_enabled(GUILD, Feature.STARBOARD) is False
    features = await db.guild_config.set_feature(GUILD, "starboard", enabled=True)
    assert features[Feature.STARBOARD] is True
    assert await db.guild_config.is_enabled(GUILD, "starboard") is True
    assert await db.guild_config.is_enabled(OTHER_GUILD, Feature.STARBOARD) is False
    await db.guild_config.set_feature(GUILD, Feature.LEVELS, enabled=False)
    assert (await db.guild_config.features(GUILD))[Feature.LEVELS] is False


async def test_unknown_feature_is_rejected_with_the_allowed_values(db: Database) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(ValidationError, match=r"feature: must be one of levels, .*, got 'music'"):
        await db.guild_config.set_feature(GUILD, "music", enabled=True)
    assert await _count(db, GuildFeature) == 0


async def test_feature_toggle_for_unknown_guild_names_guild_id(db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        await db.guild_config.set_feature(GUILD, Feature.LEVELS, enabled=True)
    assert raised.value.fields == ["guild_id"]


async def test_member_ensure_is_idempotent_and_leave_marks_left(db: Database) -> None:
    await db.guilds.join(GUILD)
    first = await db.members.ensure(GUILD, USER)
    again = await db.members.ensure(GUILD, USER)
    assert first.joined_at == again.joined_at
    assert await db.members.count(GUILD) == 1
    assert await db.members.leave(GUILD, USER) is True
    assert await db.members.count(GUILD) == 0
    gone = await db.members.get(GUILD, USER)
    assert gone is not None
    assert gone.left_at is not None
    back = await db.members.ensure(GUILD, USER)
    assert back.left_at is None


async def test_member_of_unknown_guild_is_rejected(db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        await db.members.ensure(GUILD, USER)
    assert raised.value.fields == ["guild_id"]
    assert await _count(db, Member) == 0


async def test_guild_level_member_blacklist(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.guilds.join(OTHER_GUILD)
    await db.members.set_blacklisted(GUILD, USER, blacklisted=True, reason="spam")
    assert await db.members.is_blacklisted(GUILD, USER) is True
    assert await db.members.is_blacklisted(OTHER_GUILD, USER) is False
    member = await db.members.set_blacklisted(GUILD, USER, blacklisted=False)
    assert member.blacklist_reason is None
    assert await db.members.is_blacklisted(GUILD, USER) is False


async def test_global_blacklist_honours_expiry_and_keeps_history(db: Database) -> None:
    with acting_as(ADMIN):
        entry = await db.blacklist.add(BlacklistTarget.USER, USER, reason="raid", author_id=ADMIN)
    assert entry.reason == "raid"
    assert await db.blacklist.is_blacklisted("user", USER) is True
    assert await db.blacklist.is_blacklisted("guild", USER) is False
    later = utcnow() + timedelta(hours=2)
    await db.blacklist.add("user", USER, reason="raid", expires_at=utcnow() + timedelta(hours=1))
    assert await db.blacklist.is_blacklisted("user", USER, now=later) is False
    assert [e.target_id for e in await db.blacklist.list_active("user")] == [USER]
    with acting_as(ADMIN):
        assert await db.blacklist.remove("user", USER) is True
    assert await db.blacklist.remove("user", USER) is False
    assert await db.blacklist.is_blacklisted("user", USER) is False
    await db.blacklist.add("user", USER, reason="again")
    assert [e.reason for e in await db.blacklist.history("user", USER)] == ["again", "raid"]


async def test_blacklist_history_shows_who_lifted_an_entry_and_when(db: Database) -> None:
    lifter = ADMIN + 1
    with acting_as(ADMIN):
        added = await db.blacklist.add("user", USER, reason="raid", author_id=ADMIN)
    assert (added.deleted_at, added.deleted_by) == (None, None)
    async with db.session() as session:
        before = (await session.execute(select(func.now()))).scalar_one()
    with acting_as(lifter):
        assert await db.blacklist.remove("user", USER) is True
    await db.blacklist.add("user", USER, reason="again")
    current, lifted = await db.blacklist.history("user", USER)
    assert (current.reason, current.deleted_at, current.deleted_by) == ("again", None, None)
    assert (lifted.reason, lifted.author_id, lifted.deleted_by) == ("raid", ADMIN, lifter)
    assert lifted.deleted_at is not None
    assert lifted.deleted_at >= before
    assert [entry.deleted_at for entry in await db.blacklist.list_active("user")] == [None]


async def test_blacklist_checks_are_answered_from_memory_and_follow_every_change(
    pooled_db: Database, settings: Settings
) -> None:
    other_process = await Database(settings).connect()
    try:
        await pooled_db.blacklist.add("user", USER, reason="raid")
        async with statements_on(pooled_db.engine) as statements:
            assert await pooled_db.blacklist.is_blacklisted("user", USER) is True  # loads the live map once
            checks = [await pooled_db.blacklist.is_blacklisted("user", USER + n) for n in range(50)]
        assert checks == [True] + [False] * 49
        assert len(statements) == 1, statements
        async with statements_on(other_process.engine) as statements:
            assert await other_process.blacklist.is_blacklisted("user", USER) is True
        assert statements == []  # the map came from Redis
        await pooled_db.blacklist.remove("user", USER)
        assert await pooled_db.blacklist.is_blacklisted("user", USER) is False
        await asyncio.sleep(0.05)  # the invalidation message reaches the other process
        assert await other_process.blacklist.is_blacklisted("user", USER) is False
    finally:
        await other_process.close()


async def test_a_cached_blacklist_entry_stops_blocking_the_moment_it_expires(pooled_db: Database) -> None:
    await pooled_db.blacklist.add("user", USER, expires_at=utcnow() + timedelta(seconds=0.5))
    assert await pooled_db.blacklist.is_blacklisted("user", USER) is True
    await asyncio.sleep(0.6)
    async with statements_on(pooled_db.engine) as statements:
        assert await pooled_db.blacklist.is_blacklisted("user", USER) is False
    assert statements == []  # decided from the cached expiry, not by asking again


async def test_concurrent_blacklist_adds_keep_one_live_entry(pooled_db: Database) -> None:
    await asyncio.gather(*(pooled_db.blacklist.add("guild", GUILD, reason=f"r{i}") for i in range(10)))
    assert len(await pooled_db.blacklist.list_active()) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"target": "channel", "target_id": USER}, "target"),
        ({"target": "user", "target_id": 0}, "target_id"),
        ({"target": "user", "target_id": USER, "reason": "x" * 513}, "reason"),
        ({"target": "user", "target_id": USER, "author_id": -1}, "author_id"),
        ({"target": "user", "target_id": USER, "expires_at": utcnow() - timedelta(seconds=1)}, "expires_at"),
    ],
)
async def test_bad_blacklist_entry_names_the_field(db: Database, kwargs: dict[str, object], field: str) -> None:
    target = kwargs.pop("target")
    target_id = kwargs.pop("target_id")
    with pytest.raises(ValidationError) as raised:
        await db.blacklist.add(target, target_id, **kwargs)  # type: ignore[arg-type]
    assert raised.value.fields == [field]
    assert await db.blacklist.list_active() == []
