"""Snippets (R7.3, R15.1): one case-insensitive namespace with aliases, exact use counts, the lock, the audit trail."""

import asyncio

import pytest
from sqlalchemy import delete, func, insert, select, text
from sqlmodel import col

from guildbase import ConflictError, Database, NotFoundError, PermissionDeniedError, ValidationError, acting_as
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.snippets import MAX_ALIASES, Snippet, SnippetName
from guildbase.testing import ids, statements_on

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
OTHER_GUILD = BLOCK + 2
AUTHOR = BLOCK + 101
MEMBER = BLOCK + 102
MOD = BLOCK + 103


async def _names(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(SnippetName))).scalar_one())


async def test_a_snippet_is_found_by_its_name_or_an_alias_in_any_letter_case(db: Database) -> None:
    await db.guilds.join(GUILD)
    created = await db.snippets.create(GUILD, "Faq", "Read the pins.", author_id=AUTHOR)
    assert (created.name, created.aliases, created.uses, created.is_locked) == ("Faq", [], 0, False)
    await db.snippets.add_alias(GUILD, "faq", "help", editor_id=MEMBER)
    for spelling in ("faq", "FAQ", "fAq", "help", "HELP"):
        found = await db.snippets.get(GUILD, spelling)
        assert found is not None, spelling
        assert (found.snippet_id, found.name, found.aliases) == (created.snippet_id, "Faq", ["help"])
    assert await db.snippets.get(OTHER_GUILD, "faq") is None


@pytest.mark.parametrize("taken", ["faq", "FAQ", "Help", "hElP"])
async def test_a_name_cannot_collide_with_a_name_or_an_alias_in_any_letter_case(db: Database, taken: str) -> None:
    await db.guilds.join(GUILD)
    await db.snippets.create(GUILD, "faq", "Read the pins.", author_id=AUTHOR)
    await db.snippets.add_alias(GUILD, "faq", "help", editor_id=AUTHOR)
    await db.snippets.create(GUILD, "rules", "Be kind.", author_id=AUTHOR)
    names = await _names(db)
    with pytest.raises(ConflictError, match=r"name: .* is already"):
        await db.snippets.create(GUILD, taken, "again", author_id=AUTHOR)
    with pytest.raises(ConflictError, match=r"alias: .* is already"):
        await db.snippets.add_alias(GUILD, "rules", taken, editor_id=AUTHOR)
    assert await _names(db) == names


async def test_the_database_itself_refuses_a_second_spelling_of_a_name(db: Database) -> None:
    """The unique index on (guild_id, lower(name)) is the backstop, whoever writes the row."""
    await db.guilds.join(GUILD)
    created = await db.snippets.create(GUILD, "faq", "Read the pins.", author_id=AUTHOR)
    with pytest.raises(ConflictError, match="ix_snippet_name_guild_id_lower_name"):
        async with db.session() as session:
            await session.execute(
                insert(SnippetName).values(guild_id=GUILD, snippet_id=created.snippet_id, name="FAQ", is_alias=True)
            )


async def test_an_alias_never_outlives_its_snippet(db: Database) -> None:
    await db.guilds.join(GUILD)
    created = await db.snippets.create(GUILD, "faq", "Read the pins.", author_id=AUTHOR)
    await db.snippets.add_alias(GUILD, "faq", "help", editor_id=AUTHOR)
    await db.snippets.add_alias(GUILD, "faq", "pins", editor_id=AUTHOR)
    assert await db.snippets.delete(GUILD, "HELP", editor_id=AUTHOR)  # deleting by an alias deletes the snippet
    assert await _names(db) == 0
    for name in ("faq", "help", "pins"):
        assert await db.snippets.get(GUILD, name) is None
    # Deleted behind the controller's back (raw SQL), the cascade still takes the aliases.
    again = await db.snippets.create(GUILD, "faq", "Read the pins.", author_id=AUTHOR)
    await db.snippets.add_alias(GUILD, "faq", "help", editor_id=AUTHOR)
    async with db.session() as session:
        await session.execute(delete(Snippet).where(col(Snippet.snippet_id) == again.snippet_id))
    assert await _names(db) == 0
    # And no alias can point at a snippet that is gone, or at another guild's snippet.
    with pytest.raises(ValidationError):
        async with db.session() as session:
            await session.execute(
                insert(SnippetName).values(guild_id=GUILD, snippet_id=created.snippet_id, name="ghost", is_alias=True)
            )
    await db.guilds.join(OTHER_GUILD)
    theirs = await db.snippets.create(OTHER_GUILD, "theirs", "elsewhere", author_id=AUTHOR)
    with pytest.raises(ValidationError):
        async with db.session() as session:
            await session.execute(
                insert(SnippetName).values(guild_id=GUILD, snippet_id=theirs.snippet_id, name="mine", is_alias=True)
            )


async def test_an_alias_added_while_its_snippet_is_deleted_never_dangles(pooled_db: Database) -> None:
    db = pooled_db
    await db.guilds.join(GUILD)
    for round_ in range(10):
        await db.snippets.create(GUILD, f"s{round_}", "x", author_id=AUTHOR)
        results = await asyncio.gather(
            db.snippets.add_alias(GUILD, f"s{round_}", f"a{round_}", editor_id=AUTHOR),
            db.snippets.delete(GUILD, f"s{round_}", editor_id=AUTHOR),
            return_exceptions=True,
        )
        assert all(not isinstance(r, BaseException) or isinstance(r, NotFoundError) for r in results), results
    async with db.session() as session:
        orphans = await session.execute(
            text(
                "SELECT count(*) FROM snippet_name n LEFT JOIN snippet s USING (guild_id, snippet_id)"
                " WHERE s.snippet_id IS NULL"
            )
        )
        assert orphans.scalar_one() == 0
    assert await db.snippets.count(GUILD) == 0


async def test_200_concurrent_uses_count_exactly_200(pooled_db: Database) -> None:
    db = pooled_db
    await db.guilds.join(GUILD)
    await db.snippets.create(GUILD, "faq", "Read the pins.", author_id=AUTHOR)
    await db.snippets.add_alias(GUILD, "faq", "help", editor_id=AUTHOR)
    spellings = ["faq", "FAQ", "help", "Help"]
    used = await asyncio.gather(*(db.snippets.use(GUILD, spellings[n % 4]) for n in range(200)))
    assert all(u is not None for u in used)
    assert sorted(u.uses for u in used if u is not None) == list(range(1, 201))
    found = await db.snippets.get(GUILD, "faq")
    assert found is not None
    assert found.uses == 200


async def test_a_lookup_and_a_use_are_one_statement_each(pooled_db: Database) -> None:
    db = pooled_db
    await db.guilds.join(GUILD)
    await db.snippets.create(GUILD, "faq", "Read the pins.", author_id=AUTHOR)
    await db.snippets.use(GUILD, "faq")  # the feature map is cached now
    async with statements_on(db.engine) as statements:
        assert await db.snippets.get(GUILD, "FAQ") is not None
    assert len(statements) == 1, statements
    async with statements_on(db.engine) as statements:
        assert await db.snippets.use(GUILD, "faq") is not None
    assert len(statements) == 1, statements


async def test_the_lookup_reads_the_namespace_index(pooled_db: Database) -> None:
    db = pooled_db
    await db.guilds.join(GUILD)
    async with db.session() as session:
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            row[0]
            for row in await session.execute(
                text(f"EXPLAIN SELECT snippet_id FROM snippet_name WHERE guild_id = {GUILD} AND lower(name) = 'faq'")
            )
        )
    assert "ix_snippet_name_guild_id_lower_name" in plan, plan


async def test_a_miss_suggests_the_closest_names(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.snippets.create(GUILD, "faqs", "Read the pins.", author_id=AUTHOR)
    await db.snippets.create(GUILD, "rules", "Be kind.", author_id=AUTHOR)
    await db.snippets.add_alias(GUILD, "rules", "guidelines", editor_id=AUTHOR)
    assert await db.snippets.use(GUILD, "faq") is None
    assert await db.snippets.suggest(GUILD, "faq") == ["faqs"]
    assert await db.snippets.suggest(GUILD, "guideline") == ["guidelines"]
    assert await db.snippets.suggest(GUILD, "zzz") == []


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "1-32"),
        ("x" * 33, "1-32"),
        ("two words", "whitespace"),
        ("tab\there", "whitespace"),
        ("<@123>", "'<'"),
        ("@everyone", "'@'"),
        ("#general", "'#'"),
        ("`code`", "'`'"),
    ],
)
async def test_a_bad_name_is_refused_naming_the_rule(db: Database, name: str, rule: str) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(ValidationError) as raised:
        await db.snippets.create(GUILD, name, "content", author_id=AUTHOR)
    assert raised.value.fields == ["name"]
    assert rule in str(raised.value)
    assert await db.snippets.count(GUILD) == 0


async def test_a_locked_snippet_is_edited_only_by_its_author_or_staff(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.snippets.create(GUILD, "faq", "v1", author_id=AUTHOR)
    assert (await db.snippets.edit(GUILD, "faq", "v2", editor_id=MEMBER)).content == "v2"  # unlocked: anyone
    assert (await db.snippets.set_locked(GUILD, "faq", locked=True)).is_locked
    with pytest.raises(PermissionDeniedError, match="locked"):
        await db.snippets.edit(GUILD, "faq", "vandalised", editor_id=MEMBER)
    with pytest.raises(PermissionDeniedError, match="locked"):
        await db.snippets.add_alias(GUILD, "faq", "mine", editor_id=MEMBER)
    with pytest.raises(PermissionDeniedError, match="locked"):
        await db.snippets.delete(GUILD, "faq", editor_id=MEMBER)
    assert (await db.snippets.edit(GUILD, "faq", "v3", editor_id=AUTHOR)).content == "v3"
    assert (await db.snippets.edit(GUILD, "faq", "v4", editor_id=MOD, is_staff=True)).content == "v4"
    found = await db.snippets.get(GUILD, "faq")
    assert found is not None
    assert (found.content, found.aliases) == ("v4", [])


async def test_edits_are_audited_with_before_after_and_who(db: Database) -> None:
    await db.guilds.join(GUILD)
    with acting_as(AUTHOR):
        created = await db.snippets.create(GUILD, "faq", "v1", author_id=AUTHOR)
    with acting_as(MEMBER):
        await db.snippets.edit(GUILD, "faq", "v2", editor_id=MEMBER)
        await db.snippets.add_alias(GUILD, "faq", "help", editor_id=MEMBER)
    with acting_as(MOD):
        await db.snippets.set_locked(GUILD, "faq", locked=True)
        await db.snippets.delete(GUILD, "faq", editor_id=MOD, is_staff=True)
    trail = list(reversed(await db.audit.for_entity(AuditEntity.SNIPPET, created.snippet_id)))
    assert [(row.action, row.actor_id) for row in trail] == [
        (AuditAction.SNIPPET_CREATE, AUTHOR),
        (AuditAction.SNIPPET_EDIT, MEMBER),
        (AuditAction.SNIPPET_ALIAS, MEMBER),
        (AuditAction.SNIPPET_EDIT, MOD),
        (AuditAction.SNIPPET_DELETE, MOD),
    ]
    assert (trail[1].before, trail[1].after) == ({"content": "v1"}, {"content": "v2"})
    assert (trail[2].before, trail[2].after) == ({"aliases": []}, {"aliases": ["help"]})
    assert trail[4].before == {"name": "faq", "content": "v2", "aliases": ["help"]}


async def test_the_guild_limit_and_the_alias_limit_hold(db: Database) -> None:
    await db.guilds.join(GUILD)
    limit = db.settings.snippet_limit
    async with db.session() as session:  # fill the guild to one below its limit without a round trip each
        await session.execute(
            text(
                "WITH s AS (INSERT INTO snippet (guild_id, content, author_id)"
                " SELECT :g, 'x', :a FROM generate_series(1, :n) RETURNING snippet_id)"
                " INSERT INTO snippet_name (guild_id, snippet_id, name) SELECT :g, snippet_id, 'n' || snippet_id FROM s"
            ),
            {"g": GUILD, "a": AUTHOR, "n": limit - 1},
        )
    await db.snippets.create(GUILD, "last", "fits", author_id=AUTHOR)
    with pytest.raises(ConflictError, match=f"already has {limit} snippets"):
        await db.snippets.create(GUILD, "one-more", "does not fit", author_id=AUTHOR)
    for n in range(MAX_ALIASES):
        await db.snippets.add_alias(GUILD, "last", f"alias{n}", editor_id=AUTHOR)
    with pytest.raises(ConflictError, match=f"already has {MAX_ALIASES} aliases"):
        await db.snippets.add_alias(GUILD, "last", "too-many", editor_id=AUTHOR)
    assert await db.snippets.count(GUILD) == limit


async def test_a_premium_tier_raises_the_snippet_limit_and_losing_it_lowers_it_again(db: Database) -> None:
    await db.guilds.join(GUILD)
    base = db.settings.snippet_limit
    async with db.session() as session:
        await session.execute(
            text(
                "WITH s AS (INSERT INTO snippet (guild_id, content, author_id)"
                " SELECT :g, 'x', :a FROM generate_series(1, :n) RETURNING snippet_id)"
                " INSERT INTO snippet_name (guild_id, snippet_id, name) SELECT :g, snippet_id, 'n' || snippet_id FROM s"
            ),
            {"g": GUILD, "a": AUTHOR, "n": base},
        )
    with pytest.raises(ConflictError, match=f"already has {base} snippets"):
        await db.snippets.create(GUILD, "over", "the base limit", author_id=AUTHOR)
    await db.premium.set_tier("big", name="Big", rank=5, limits={"max_snippets": base + 1})
    sub = await db.premium.subscribe("guild", GUILD, "big")
    await db.snippets.create(GUILD, "over", "fits the tier", author_id=AUTHOR)
    with pytest.raises(ConflictError, match=f"already has {base + 1} snippets"):
        await db.snippets.create(GUILD, "past", "the tier's limit", author_id=AUTHOR)
    await db.premium.transition(sub.subscription_id, "canceled")
    with pytest.raises(ConflictError, match=f"already has {base} snippets"):
        await db.snippets.create(GUILD, "past", "the base limit again", author_id=AUTHOR)


async def test_a_snippet_banned_member_cannot_create_or_change_snippets(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.snippets.create(GUILD, "faq", "v1", author_id=AUTHOR)
    await db.cases.create(GUILD, MEMBER, MOD, "SNIPPETBAN")
    with pytest.raises(PermissionDeniedError, match="snippet-banned"):
        await db.snippets.create(GUILD, "mine", "x", author_id=MEMBER)
    with pytest.raises(PermissionDeniedError, match="snippet-banned"):
        await db.snippets.edit(GUILD, "faq", "x", editor_id=MEMBER)
    assert await db.snippets.use(GUILD, "faq") is not None  # reading stays open
    await db.cases.create(GUILD, MEMBER, MOD, "SNIPPETUNBAN")
    assert (await db.snippets.create(GUILD, "mine", "x", author_id=MEMBER)).author_id == MEMBER


async def test_aliases_are_removed_but_never_the_snippets_own_name(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.snippets.create(GUILD, "faq", "v1", author_id=AUTHOR)
    await db.snippets.add_alias(GUILD, "faq", "help", editor_id=AUTHOR)
    assert (await db.snippets.remove_alias(GUILD, "HELP", editor_id=AUTHOR)).aliases == []
    with pytest.raises(ConflictError, match="own name"):
        await db.snippets.remove_alias(GUILD, "faq", editor_id=AUTHOR)
    with pytest.raises(NotFoundError, match="alias"):
        await db.snippets.remove_alias(GUILD, "help", editor_id=AUTHOR)
    assert [s.name for s in await db.snippets.list_for_guild(GUILD)] == ["faq"]
