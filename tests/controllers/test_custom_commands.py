"""Custom commands (R15.2): templates with arguments, the rank check point, cooldowns, one shared name space."""

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from guildbase import ConflictError, Database, NotFoundError, ValidationError
from guildbase.controllers.custom_commands import arg_count, check_rank, render
from guildbase.controllers.names import reserve_builtin_names
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
AUTHOR = BLOCK + 101
MEMBER = BLOCK + 102


async def test_a_command_renders_its_template_with_arguments_and_counts_the_run(db: Database) -> None:
    await db.guilds.join(GUILD)
    created = await db.custom_commands.create(GUILD, "Greet", "Hi {1}, from {user} in {channel}!", author_id=AUTHOR)
    assert created.arg_count == 1
    run = await db.custom_commands.invoke(GUILD, "greet", MEMBER, args="bob")
    assert run is not None
    assert (run.is_run, run.is_allowed, run.arguments, run.command.uses) == (True, True, ["bob"], 1)
    text = render(run.command.template, user="alice", channel="#general", guild="G", args=run.arguments)
    assert text == "Hi bob, from alice in #general!"
    assert await db.custom_commands.invoke(GUILD, "nothing", MEMBER) is None


async def test_too_few_arguments_or_too_low_a_rank_runs_nothing(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.custom_commands.create(GUILD, "pair", "{1} and {2}", author_id=AUTHOR, required_rank=3)
    low = await db.custom_commands.invoke(GUILD, "pair", MEMBER, rank=2, args="a b")
    assert low is not None
    assert (low.is_run, low.is_allowed) == (False, False)
    short = await db.custom_commands.invoke(GUILD, "pair", MEMBER, rank=3, args="a")
    assert short is not None
    assert (short.is_run, short.is_allowed, short.command.arg_count) == (False, True, 2)
    ran = await db.custom_commands.invoke(GUILD, "pair", MEMBER, rank=5, args="a b")
    assert ran is not None
    assert (ran.is_run, ran.command.uses) == (True, 1)
    assert check_rank(None, 0)
    assert check_rank(3, 3)
    assert not check_rank(3, 2)


async def test_concurrent_runs_inside_a_cooldown_pass_once_per_member(pooled_db: Database) -> None:
    db = pooled_db
    await db.guilds.join(GUILD)
    await db.custom_commands.create(GUILD, "daily", "Claimed!", author_id=AUTHOR, cooldown_seconds=3600)
    members = [MEMBER + n for n in range(5)]
    runs = await asyncio.gather(*(db.custom_commands.invoke(GUILD, "daily", m) for m in members for _ in range(8)))
    assert sum(1 for run in runs if run is not None and run.is_run) == len(members)
    waiting = [run for run in runs if run is not None and not run.is_run]
    assert waiting
    assert all(3500 < run.retry_after_seconds <= 3600 for run in waiting)
    found = await db.custom_commands.get(GUILD, "daily")
    assert found is not None
    assert found.uses == len(members)


@pytest.mark.parametrize("spelling", ["faq", "FAQ", "help", "HeLp", "Ping"])
async def test_a_command_name_taken_by_a_snippet_an_alias_or_a_builtin_is_refused_by_name(
    db: Database, spelling: str
) -> None:
    await db.guilds.join(GUILD)
    reserve_builtin_names(db, ["ping", "snippet"])
    await db.snippets.create(GUILD, "faq", "Read the pins.", author_id=AUTHOR)
    await db.snippets.add_alias(GUILD, "faq", "help", editor_id=AUTHOR)
    with pytest.raises(ConflictError, match=r"^name: ") as raised:
        await db.custom_commands.create(GUILD, spelling, "x", author_id=AUTHOR)
    kind = "built-in command" if spelling.lower() == "ping" else "alias" if spelling.lower() == "help" else "snippet"
    assert kind in str(raised.value)
    assert await db.custom_commands.list_for_guild(GUILD) == []


async def test_a_snippet_or_alias_named_like_a_command_is_refused_too(db: Database) -> None:
    await db.guilds.join(GUILD)
    reserve_builtin_names(db, ["ping"])
    await db.custom_commands.create(GUILD, "Roll", "🎲", author_id=AUTHOR)
    await db.snippets.create(GUILD, "faq", "Read the pins.", author_id=AUTHOR)
    with pytest.raises(ConflictError, match="custom command"):
        await db.snippets.create(GUILD, "roll", "x", author_id=AUTHOR)
    with pytest.raises(ConflictError, match="custom command"):
        await db.snippets.add_alias(GUILD, "faq", "ROLL", editor_id=AUTHOR)
    with pytest.raises(ConflictError, match="built-in command"):
        await db.snippets.create(GUILD, "PING", "x", author_id=AUTHOR)
    with pytest.raises(ConflictError, match="already a custom command"):
        await db.custom_commands.create(GUILD, "rOLL", "again", author_id=AUTHOR)


async def test_a_snippet_and_a_command_racing_for_one_name_get_it_once(pooled_db: Database) -> None:
    db = pooled_db
    await db.guilds.join(GUILD)
    for n in range(10):
        results = await asyncio.gather(
            db.custom_commands.create(GUILD, f"name{n}", "cmd", author_id=AUTHOR),
            db.snippets.create(GUILD, f"NAME{n}", "snippet", author_id=AUTHOR),
            return_exceptions=True,
        )
        assert sum(isinstance(r, ConflictError) for r in results) == 1, results
    commands = len(await db.custom_commands.list_for_guild(GUILD))
    assert commands + await db.snippets.count(GUILD) == 10


async def test_edits_and_deletes_are_audited_and_only_given_fields_change(db: Database) -> None:
    await db.guilds.join(GUILD)
    created = await db.custom_commands.create(GUILD, "hi", "Hello", author_id=AUTHOR, cooldown_seconds=5)
    edited = await db.custom_commands.edit(GUILD, "HI", template="Hello {1}", required_rank=2)
    assert (edited.template, edited.arg_count, edited.required_rank, edited.cooldown_seconds) == ("Hello {1}", 1, 2, 5)
    with pytest.raises(ValidationError) as raised:
        await db.custom_commands.edit(GUILD, "hi", bogus=1)
    assert raised.value.fields == ["bogus"]
    with pytest.raises(NotFoundError):
        await db.custom_commands.edit(GUILD, "nope", template="x")
    assert await db.custom_commands.delete(GUILD, "hi")
    assert not await db.custom_commands.delete(GUILD, "hi")
    trail = list(reversed(await db.audit.for_entity(AuditEntity.CUSTOM_COMMAND, created.command_id)))
    assert [row.action for row in trail] == [
        AuditAction.CUSTOM_COMMAND_CREATE,
        AuditAction.CUSTOM_COMMAND_EDIT,
        AuditAction.CUSTOM_COMMAND_DELETE,
    ]
    assert trail[1].before == {"template": "Hello", "required_rank": None, "arg_count": 0}


@given(
    st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Zs", "Cc")), min_size=1), max_size=9),
    st.text(max_size=30),
)
def test_render_substitutes_exactly_the_placeholders(args: list[str], noise: str) -> None:
    template = noise.replace("{", "(") + " " + " ".join(f"{{{n}}}" for n in range(1, len(args) + 1)) + " {unknown}"
    rendered = render(template, user="u", channel="c", guild="g", args=args)
    assert rendered == noise.replace("{", "(") + " " + " ".join(args) + " {unknown}"
    assert arg_count(template) == len(args)
    assert render("{args}|{user}{channel}{guild}", user="u", channel="c", guild="g", args=args) == (
        " ".join(args) + "|ucg"
    )
