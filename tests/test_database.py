import logging

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import URL

from guildbase import Database, GuildbaseError, SchemaNotAtHeadError, Settings, SyncDatabase, ValidationError
from guildbase.models.core import Guild, GuildConfig
from guildbase.testing import create_database, drop_database, ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1


async def test_unit_of_work_that_raises_leaves_nothing_written(db: Database) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.session() as session:
            await Guild.create(session, {"guild_id": GUILD})  # its config row comes with it
            await GuildConfig.update(session, GUILD, {"prefix": "!"})
            raise Boom
    assert await db.guilds.get(GUILD) is None
    async with db.session() as session:
        assert (await session.execute(select(func.count()).select_from(GuildConfig))).scalar_one() == 0


async def test_constraint_violation_rolls_back_the_whole_unit(db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        async with db.session() as session:
            await Guild.create(session, {"guild_id": GUILD})
            await session.execute(text("INSERT INTO guild_config (guild_id, prefix, locale) VALUES (42, '$', 'en')"))
    assert raised.value.fields == ["guild_id"]
    assert await db.guilds.get(GUILD) is None


async def test_connect_refuses_a_schema_that_is_not_at_head(server_url: URL, settings: Settings) -> None:
    empty = create_database(server_url, prefix="guildbase_empty")
    try:
        database = Database(settings.model_copy(update={"database_url": empty.render_as_string(False)}))
        with pytest.raises(SchemaNotAtHeadError, match="guildbase db upgrade"):
            await database.connect()
        await database.close()
        migrated = await Database(settings.model_copy(update={"database_url": empty.render_as_string(False)})).connect(
            migrate=True
        )
        health = await migrated.health()
        assert health.ok
        assert health.schema_revision is not None
        await migrated.close()
    finally:
        drop_database(empty)


async def test_health_reports_both_stores(pooled_db: Database) -> None:
    health = await pooled_db.health()
    assert health.database
    assert health.redis
    assert health.database_latency_ms is not None
    assert not health.embedded


async def test_a_replica_url_that_is_not_a_standby_is_refused_and_the_writer_reads(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Reads on a real streaming replica: tests/scaleout/test_replica_reads.py.
    not_a_standby = settings.database_url
    assert not_a_standby is not None
    database = await Database(settings.model_copy(update={"replica_urls": [not_a_standby]})).connect()
    try:
        with caplog.at_level(logging.WARNING, logger="guildbase.db"):
            for _ in range(2):
                async with database.read_session() as session:
                    assert session.bind is database.engine
                    assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
        refusals = [r.getMessage() for r in caplog.records if "not a hot standby" in r.getMessage()]
        assert len(refusals) == 1
    finally:
        await database.close()


async def test_using_an_unconnected_database_says_how_to_fix_it() -> None:
    database = Database(Settings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    with pytest.raises(GuildbaseError, match=r"await db.connect\(\)"):
        async with database.session():
            pass


def test_sync_database_shares_the_crud_surface(settings: Settings, database_url: URL) -> None:
    from guildbase.testing import truncate_all  # noqa: PLC0415

    try:
        with SyncDatabase(settings) as sync_db:
            with sync_db.session() as session:
                Guild.create(session, {"guild_id": GUILD, "name": "sync"})
                Guild.upsert(session, {"guild_id": GUILD, "name": "upserted"})
            with sync_db.session() as session:
                guild = Guild.get(session, GUILD)
                assert guild is not None
                assert guild.name == "upserted"
                assert Guild.delete(session, GUILD) is True
            with pytest.raises(ValidationError) as raised, sync_db.session() as session:
                Guild.create(session, {"guild_id": -1})
            assert raised.value.fields == ["guild_id"]
    finally:
        truncate_all(database_url)


def test_every_domain_table_offers_the_crud_surface_to_scripts(settings: Settings, database_url: URL) -> None:
    from sqlmodel import SQLModel  # noqa: PLC0415

    from guildbase.db.crud import CRUDMixin  # noqa: PLC0415
    from guildbase.models.levels import MemberLevel  # noqa: PLC0415
    from guildbase.models.moderation import Case  # noqa: PLC0415
    from guildbase.testing import truncate_all  # noqa: PLC0415

    partitioned_or_internal = {"guild_counter", "command_log", "command_log_dead_letter", "command_stat_daily", "job"}
    # Trails written only by their one helper or writer: a CRUD surface would let a script edit history.
    partitioned_or_internal |= {"audit_log", "error_group", "error_group_daily", "error_log"}
    # The event trail: written by COPY and upserts from db.events, partitioned or rolled up, never row CRUD.
    partitioned_or_internal |= {
        "guild_event",
        "reaction_event",
        "voice_event",
        "voice_session",
        "invite",
        "invite_tally",
        "invite_use",
        "message_stat_daily",
        "member_stat_daily",
        "voice_stat_daily",
        "role_stat_daily",
        "message_stat_user_daily",
        "message_stat_channel_daily",
        "voice_stat_user_daily",
        "voice_stat_channel_daily",
    }
    # Security: an append-only trail, and secrets only their controller writes (hashed, scoped, audited).
    partitioned_or_internal |= {"security_event", "api_key", "oauth_token"}
    # Tickets: the trail, the transcript and the rollups are written only by db.tickets, with the ticket's events.
    partitioned_or_internal |= {
        "ticket_participant",
        "ticket_event",
        "ticket_message",
        "ticket_daily",
        "ticket_daily_duration",
    }
    # Integrations: the seen-items claim table is the fetcher's own bookkeeping.
    partitioned_or_internal |= {"integration_item"}
    # Runtime metric samples: written by the sampler's COPY, partitioned by month.
    partitioned_or_internal |= {"runtime_metric_sample"}
    # Rows that only their parent's controller writes, in the parent's statement: names and aliases with their
    # snippet, options and votes with their poll (the counts move with the votes), command cooldowns.
    partitioned_or_internal |= {"snippet_name", "poll_option", "poll_vote", "custom_command_use"}
    # Premium: every write goes through db.premium (the status state machine, its audit row, the benefits cache).
    partitioned_or_internal |= {"premium_tier", "premium_sku", "subscription", "premium_trial"}
    partitioned_or_internal |= {"payment_transaction", "premium_key"}
    # The permission check log (partitioned, by COPY) and the command tree the bot registers at startup.
    partitioned_or_internal |= {"permission_check", "bot_command"}
    # The record of privacy requests: written only by db.privacy, the proof an erase was done.
    partitioned_or_internal |= {"privacy_request"}
    # The legacy import's checkpoints and report rows: written only by the importer (bulk SQL, resumable).
    partitioned_or_internal |= {"legacy_import_checkpoint", "legacy_import_issue"}
    for mapper in SQLModel._sa_registry.mappers:
        table = mapper.local_table.name
        if table not in partitioned_or_internal:
            assert issubclass(mapper.class_, CRUDMixin), f"{table} has no CRUD surface"
    try:
        with SyncDatabase(settings) as sync_db, sync_db.session() as session:
            Guild.create(session, {"guild_id": GUILD})
            case = Case.create(
                session,
                {"guild_id": GUILD, "number": 1, "type": "WARN", "user_id": GUILD + 1, "moderator_id": GUILD + 2},
            )
            assert Case.get(session, case.case_id) is not None
            level = MemberLevel.upsert(session, {"guild_id": GUILD, "user_id": GUILD + 1, "xp": 40})
            assert level.xp == 40
            assert MemberLevel.get(session, (GUILD, GUILD + 1)) is not None
    finally:
        truncate_all(database_url)
