"""The bot's shared machinery, driven through discord.py's dispatch: prefixes, guild records,
the global check, the error mapper and the command log."""

import ast
import asyncio
from pathlib import Path

import pytest
from discord.ext import commands
from fake_discord import FakeDiscord
from harness import Harness, logged_commands, running_bot

from guildbase import ConfigurationError, Database, Settings
from guildbase.bot.settings import BotSettings

EPHEMERAL = 64


async def test_guild_create_records_the_guild_and_replies_reach_the_configured_rest_url(harness: Harness) -> None:
    guild = await harness.bot.db.guilds.get(harness.guild_id)
    assert guild is not None
    assert guild.name == "Test Guild"
    await harness.say(harness.alice, "$afk lunch")
    assert harness.fake.sent_to(harness.channel_id), "the reply was sent to the fake REST server"
    assert harness.fake.unknown == []


async def test_a_custom_prefix_from_the_config_is_used_and_the_old_one_no_longer_is(harness: Harness) -> None:
    await harness.bot.db.guild_config.set_prefix(harness.guild_id, "!")
    await harness.say(harness.mod, "$features")
    assert harness.fake.sent == []
    await harness.say(harness.mod, "!features")
    assert "levels" in harness.last_reply()
    await harness.say(harness.mod, f"<@{harness.bot_id}> features")
    assert len(harness.fake.sent) == 2


@pytest.mark.parametrize("where", ["prefix", "slash"])
async def test_a_globally_blacklisted_user_is_refused_with_a_short_reply(harness: Harness, where: str) -> None:
    await harness.bot.db.blacklist.add("user", harness.alice.user_id, reason="spam")
    if where == "prefix":
        await harness.say(harness.alice, "$remind 1h water")
        assert harness.last_reply() == "You are blacklisted from using this bot."
    else:
        await harness.slash(harness.alice, "remind", when="1h", content="water")
        response = harness.last_interaction_response()
        assert response["data"]["content"] == "You are blacklisted from using this bot."
        assert response["data"]["flags"] & EPHEMERAL
    assert await harness.bot.db.reminders.list_for_user(harness.alice.user_id) == []


async def test_a_blacklisted_guild_and_a_blocked_member_are_refused(harness: Harness) -> None:
    await harness.bot.db.members.set_blacklisted(harness.guild_id, harness.bob.user_id, blacklisted=True)
    await harness.say(harness.bob, "$remind 1h water")
    assert harness.last_reply() == "You are blocked from using this bot in this server."
    await harness.bot.db.blacklist.add("guild", harness.guild_id)
    await harness.say(harness.alice, "$remind 1h water")
    assert harness.last_reply() == "This server is blacklisted from using this bot."
    assert await harness.bot.db.reminders.list_for_user(harness.alice.user_id) == []


async def test_a_cog_whose_feature_is_off_refuses_its_commands(harness: Harness) -> None:
    await harness.bot.db.guild_config.set_feature(harness.guild_id, "reminders", enabled=False)
    await harness.say(harness.alice, "$remind 1h water")
    assert "reminders feature is turned off" in harness.last_reply()
    assert await harness.bot.db.reminders.list_for_user(harness.alice.user_id) == []
    await harness.bot.db.guild_config.set_feature(harness.guild_id, "reminders", enabled=True)
    await harness.say(harness.alice, "$remind 1h water")
    assert len(await harness.bot.db.reminders.list_for_user(harness.alice.user_id)) == 1


async def test_a_validation_error_is_answered_with_the_field_message(harness: Harness) -> None:
    await harness.say(harness.mod, "$prefix waytoolongprefix")
    reply = harness.last_reply()
    assert reply.startswith("That input was refused:\n**prefix**: ")  # the facade's own message follows
    assert "10" in reply
    assert (await harness.bot.db.guild_config.get(harness.guild_id)).prefix == "$"


async def test_an_unexpected_error_gets_an_error_id_and_is_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(commands.Cog):
        @commands.hybrid_command(name="broken")
        async def broken(self, _ctx: commands.Context[commands.Bot]) -> None:
            raise RuntimeError("boom")

    await harness.bot.add_cog(Broken())
    await harness.say(harness.alice, "$broken")
    reply = harness.last_reply()
    assert reply.startswith("Something went wrong on my side (error ID `")
    error_id = reply.split("`")[1]
    assert any(error_id in record.getMessage() and record.exc_info for record in caplog.records)
    assert "boom" not in reply
    await harness.bot.db.logs.flush()
    [sample] = await harness.bot.db.logs.recent_errors(guild_id=harness.guild_id, command="broken")
    assert (sample.error_id, sample.type, sample.message) == (error_id, "RuntimeError", "boom")
    assert (sample.user_id, sample.channel_id, sample.shard_id) == (harness.alice.user_id, harness.channel_id, 0)
    assert sample.traceback.rstrip().endswith("RuntimeError: boom")


async def test_every_prefix_and_slash_command_is_logged_once_with_outcome_and_duration(harness: Harness) -> None:
    await harness.say(harness.alice, "$remind 1h water")
    await harness.slash(harness.alice, "reminders")
    await harness.say(harness.alice, "$remind soon water")
    await harness.say(harness.alice, "hello, no command here")
    await harness.say(harness.alice, "$nosuchcommand")
    rows = await logged_commands(harness, harness.alice)
    assert [(r.command, r.is_success) for r in rows] == [("remind", True), ("reminders", True), ("remind", False)]
    assert rows[0].params == {"when": "1:00:00", "content": "water"}
    assert rows[2].error is not None
    assert "duration" in rows[2].error
    assert all(r.duration_ms >= 0 for r in rows)
    assert all(r.channel_id == harness.channel_id for r in rows)


async def test_a_refused_command_is_logged_as_a_failure(harness: Harness) -> None:
    await harness.bot.db.blacklist.add("user", harness.bob.user_id)
    await harness.say(harness.bob, "$reminders")
    rows = await logged_commands(harness, harness.bob)
    assert [(r.command, r.is_success) for r in rows] == [("reminders", False)]
    assert "BlockedError" in (rows[0].error or "")


def test_bot_settings_read_the_token_owners_and_intents(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "abc.def")
    monkeypatch.setenv("GUILDBASE_OWNER_IDS", "1,2")
    monkeypatch.setenv("GUILDBASE_BOT_INTENTS", "guilds,message_content")
    monkeypatch.setenv("GUILDBASE_DISCORD_API_URL", "http://127.0.0.1:9/api/v10/")
    settings = BotSettings()
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "abc.def"
    assert settings.owner_ids == [1, 2]
    intents = settings.intents()
    assert intents.message_content
    assert intents.guilds
    assert not intents.members
    assert settings.discord_api_url == "http://127.0.0.1:9/api/v10"


def test_an_unknown_intent_stops_start_up_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUILDBASE_BOT_INTENTS", "guilds,telepathy")
    with pytest.raises(ConfigurationError, match=r"GUILDBASE_BOT_INTENTS: .*telepathy"):
        BotSettings()


def test_only_the_bot_package_imports_discord(project_root: Path) -> None:
    package = project_root / "src" / "guildbase"
    importers = []
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "discord" or name.startswith("discord.") for name in names):
                importers.append(path.relative_to(package).as_posix())
    assert importers
    assert all(path.startswith("bot/") for path in importers), importers


async def test_closing_the_bot_writes_out_the_buffered_command_log(
    bot_db: Database, settings: Settings, fake_discord: FakeDiscord
) -> None:
    async with running_bot(bot_db, settings, fake_discord) as world:
        for _ in range(3):
            await world.say(world.alice, "$reminders")
        # The writer flushes every second on its own; whatever is still buffered must not be lost.
        await world.bot.close()  # what SIGTERM triggers in `guildbase bot`
        assert bot_db.logs.command_writer.pending == 0
        rows = await bot_db.logs.recent_commands(guild_id=world.guild_id)
        assert [r.command for r in rows] == ["reminders"] * 3


async def test_closing_waits_for_an_in_flight_command(
    bot_db: Database, settings: Settings, fake_discord: FakeDiscord
) -> None:
    class Slow(commands.Cog):
        @commands.command(name="slow")
        async def slow(self, ctx: commands.Context[commands.Bot]) -> None:
            await asyncio.sleep(0.3)
            await ctx.send("finished")

    async with running_bot(bot_db, settings, fake_discord) as world:
        await world.bot.add_cog(Slow())
        await world.say(world.alice, "$slow", settle=False)
        await asyncio.sleep(0.05)  # the command has started and is sleeping
        await world.bot.close()
        assert world.fake.texts(world.channel_id) == ["finished"]
        rows = await bot_db.logs.recent_commands(guild_id=world.guild_id)
        assert [(r.command, r.is_success) for r in rows] == [("slow", True)]


def test_guildbase_bot_without_a_token_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner  # noqa: PLC0415

    from guildbase.cli import app  # noqa: PLC0415

    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.delenv("GUILDBASE_DISCORD_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["bot"])
    assert result.exit_code == 1
    assert "DISCORD_TOKEN" in result.output
