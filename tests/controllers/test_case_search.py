"""``db.cases.search``: words of the reason, member, moderator and type in one query, over every case."""

import pytest

from guildbase import Database, ValidationError
from guildbase.models.core import GuildRead
from guildbase.models.moderation import CaseType
from guildbase.testing import ids


async def test_the_search_reaches_past_the_newest_page_and_combines_its_filters(db: Database, guild: GuildRead) -> None:
    target, other, mod, second_mod = ids.take(4)
    await db.cases.create(guild.guild_id, target, mod, CaseType.WARN, reason="Posted SPAM links in #general")
    for n in range(120):  # the old match is far below the newest page
        await db.cases.create(guild.guild_id, other, mod, CaseType.WARN, reason=f"off topic {n}")
    await db.cases.create(guild.guild_id, other, second_mod, CaseType.BAN, reason="spam raid")
    found = await db.cases.search(guild.guild_id, text="  spam ")
    assert [(c.number, c.user_id) for c in found] == [(122, other), (1, target)]
    assert [c.number for c in await db.cases.search(guild.guild_id, text="spam", user_id=target)] == [1]
    assert [c.number for c in await db.cases.search(guild.guild_id, text="spam", case_type="ban")] == [122]
    assert [c.number for c in await db.cases.search(guild.guild_id, moderator_id=second_mod)] == [122]
    page = await db.cases.search(guild.guild_id, user_id=other, limit=2, before=100)
    assert [c.number for c in page] == [99, 98]


async def test_like_wildcards_in_the_words_are_taken_literally(db: Database, guild: GuildRead) -> None:
    user, mod = ids.take(2)
    await db.cases.create(guild.guild_id, user, mod, CaseType.WARN, reason="100% sure it was a raid")
    await db.cases.create(guild.guild_id, user, mod, CaseType.WARN, reason="1000 messages")
    await db.cases.create(guild.guild_id, user, mod, CaseType.WARN, reason="snake_case name")
    await db.cases.create(guild.guild_id, user, mod, CaseType.WARN, reason="snakeXcase name")
    assert [c.number for c in await db.cases.search(guild.guild_id, text="100%")] == [1]
    assert [c.number for c in await db.cases.search(guild.guild_id, text="snake_case")] == [3]
    assert await db.cases.search(guild.guild_id, text="\\") == []


async def test_cases_of_another_guild_are_never_found(db: Database, guild: GuildRead) -> None:
    other = await db.guilds.join(ids())
    user, mod = ids.take(2)
    await db.cases.create(other.guild_id, user, mod, CaseType.WARN, reason="spam")
    assert await db.cases.search(guild.guild_id, text="spam") == []


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"text": "   "}, "text"),
        ({"text": "x" * 101}, "text"),
        ({"case_type": "hug"}, "case_type"),
        ({"user_id": 0}, "user_id"),
        ({"before": 0}, "before"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_bad_search_arguments_are_refused_naming_the_field(
    db: Database, guild: GuildRead, arguments: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        await db.cases.search(guild.guild_id, **arguments)  # type: ignore[arg-type]
    assert raised.value.fields == [field]
