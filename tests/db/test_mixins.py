import pytest
from sqlalchemy import select, text

from guildbase import Database, ValidationError, acting_as
from guildbase.db.mixins import DiscordIDMixin
from guildbase.db.validation import validate
from guildbase.models.core import BlacklistTarget, GlobalBlacklist, Guild, GuildConfig
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
USER = BLOCK + 101
ADMIN = BLOCK + 201
OTHER_ADMIN = BLOCK + 202


async def test_timestamp_mixin_sets_created_at_and_advances_updated_at(pooled_db: Database) -> None:
    db = pooled_db  # real transactions: now() is each transaction's start time
    async with db.session() as session:
        guild = await Guild.create(session, {"guild_id": GUILD})
        created, updated = guild.created_at, guild.updated_at
        assert created is not None
        assert updated is not None
    async with db.session() as session:
        changed = await Guild.update(session, GUILD, {"name": "renamed"})
    assert changed.created_at == created
    assert changed.updated_at is not None
    assert changed.updated_at > updated


async def test_soft_deleted_row_is_invisible_to_get_and_visible_with_opt_in(db: Database) -> None:
    async with db.session() as session:
        entry = await GlobalBlacklist.create(session, {"target": BlacklistTarget.USER, "target_id": USER})
        entry_id = entry.entry_id
    with acting_as(ADMIN):
        async with db.session() as session:
            assert await GlobalBlacklist.delete(session, entry_id) is True
    async with db.session() as session:
        assert await GlobalBlacklist.get(session, entry_id) is None
        hidden = (await session.scalars(select(GlobalBlacklist))).all()
        assert hidden == []
        found = await GlobalBlacklist.get(session, entry_id, include_deleted=True)
        assert found is not None
        assert found.is_deleted
        assert found.deleted_by == ADMIN
        shown = (await session.scalars(select(GlobalBlacklist).execution_options(include_deleted=True))).all()
        assert len(shown) == 1


async def test_restore_brings_a_soft_deleted_row_back(db: Database) -> None:
    async with db.session() as session:
        entry = await GlobalBlacklist.create(session, {"target": "guild", "target_id": GUILD})
        await GlobalBlacklist.delete(session, entry.entry_id)
        restored = await GlobalBlacklist.restore(session, entry.entry_id)
        assert not restored.is_deleted
        assert await GlobalBlacklist.get(session, entry.entry_id) is not None


async def test_hard_delete_removes_a_soft_delete_row(db: Database) -> None:
    async with db.session() as session:
        entry = await GlobalBlacklist.create(session, {"target": "guild", "target_id": GUILD})
        assert await GlobalBlacklist.delete(session, entry.entry_id, hard=True) is True
        assert await GlobalBlacklist.get(session, entry.entry_id, include_deleted=True) is None


async def test_audit_mixin_records_creator_and_last_editor_from_context(db: Database) -> None:
    await db.guilds.join(GUILD)
    with acting_as(ADMIN):
        async with db.session() as session:
            created = await GuildConfig.upsert(session, {"guild_id": GUILD, "prefix": "!"})
    assert created.updated_by == ADMIN
    with acting_as(OTHER_ADMIN):
        async with db.session() as session:
            edited = await GuildConfig.update(session, GUILD, {"prefix": "?"})
    assert edited.updated_by == OTHER_ADMIN
    async with db.session() as session:
        await session.execute(text("DELETE FROM guild_config"))
    with acting_as(ADMIN):
        async with db.session() as session:
            fresh = await GuildConfig.create(session, {"guild_id": GUILD})
    assert (fresh.created_by, fresh.updated_by) == (ADMIN, ADMIN)


async def test_audit_columns_stay_empty_outside_an_acting_context(db: Database) -> None:
    await db.guilds.join(GUILD)
    async with db.session() as session:
        config = await GuildConfig.update(session, GUILD, {"prefix": "?"})
    assert config.updated_by is None


async def test_a_write_with_nobody_acting_keeps_the_last_acting_user(db: Database) -> None:
    await db.guilds.join(GUILD)
    with acting_as(ADMIN):
        await db.guild_config.update(GUILD, prefix="!")  # Core
        await db.guild_config.add_prefix(GUILD, "?")  # ORM
    assert (await db.guild_config.update(GUILD, locale="fr")).updated_by == ADMIN
    async with db.session() as session:
        config = await GuildConfig.update(session, GUILD, {"prefix": "%"})
        upserted = await GuildConfig.upsert(session, {"guild_id": GUILD, "locale": "de"})
    assert (config.updated_by, upserted.updated_by, upserted.created_by) == (ADMIN, ADMIN, None)
    with acting_as(OTHER_ADMIN):
        assert (await db.guild_config.remove_prefix(GUILD, "?")) == ["%"]
    assert (await db.guild_config.get(GUILD)).updated_by == OTHER_ADMIN


def test_acting_as_rejects_a_non_snowflake() -> None:
    with pytest.raises(ValueError, match="snowflake"), acting_as(-3):
        pass


async def test_crud_create_validates_before_any_sql(db: Database) -> None:
    async with db.session() as session:
        with pytest.raises(ValidationError) as raised:
            await Guild.create(session, {"guild_id": 0})
        assert raised.value.fields == ["guild_id"]
        assert await Guild.get(session, GUILD) is None


async def test_crud_update_rejects_unknown_fields_and_bad_values(db: Database) -> None:
    await db.guilds.join(GUILD)
    async with db.session() as session:
        with pytest.raises(ValidationError, match="colour: must not be given"):
            await GuildConfig.update(session, GUILD, {"colour": "red"})
        with pytest.raises(ValidationError) as raised:
            await GuildConfig.update(session, GUILD, {"prefix": ""})
        assert raised.value.fields == ["prefix"]


async def test_crud_upsert_inserts_then_updates_in_one_statement(db: Database) -> None:
    async with db.session() as session:
        names = [(await Guild.upsert(session, {"guild_id": GUILD, "name": "one"})).name]
        names.append((await Guild.upsert(session, {"guild_id": GUILD, "name": "two"})).name)
        names.append((await Guild.upsert(session, {"guild_id": GUILD, "name": "three"}, update=[])).name)
    assert names == ["one", "two", "two"]


async def test_crud_composite_key_needs_every_part(db: Database) -> None:
    from guildbase.models.core import Member  # noqa: PLC0415

    async with db.session() as session:
        with pytest.raises(ValidationError, match="primary key"):
            await Member.get(session, GUILD)


def test_discord_id_mixin_validates_declared_fields() -> None:
    class LegacyRow(DiscordIDMixin):
        __snowflake_fields__ = ("case_user_id",)
        case_user_id: int
        case_number: int

    assert validate(LegacyRow, {"case_user_id": USER, "case_number": 0}).case_number == 0
    with pytest.raises(ValidationError) as raised:
        validate(LegacyRow, {"case_user_id": 0, "case_number": 1})
    assert raised.value.fields == ["case_user_id"]
