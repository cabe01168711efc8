"""Polls (R14.2): numbered per guild, one vote per member changed atomically, live counts equal to the vote rows."""

import asyncio
import random
from datetime import timedelta

import pytest
from sqlalchemy import text

from guildbase import ConflictError, Database, NotFoundError, PermissionDeniedError, ValidationError
from guildbase.db.types import utcnow
from guildbase.jobs.handlers import BotActions, register_builtin
from guildbase.jobs.registry import JobRegistry
from guildbase.jobs.runner import JobRunner
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.polls import POLL_CLOSE, PollRead, PollStatus
from guildbase.testing import ids

pytestmark = pytest.mark.clock

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
CHANNEL = BLOCK + 301
AUTHOR = BLOCK + 101
MOD = BLOCK + 102
MEMBERS = [BLOCK + 1000 + n for n in range(100)]


async def _poll(db: Database, **options: object) -> PollRead:
    return await db.polls.create(GUILD, CHANNEL, AUTHOR, "Lunch?", ["pizza", "sushi", "salad"], **options)  # type: ignore[arg-type]


async def test_polls_are_numbered_per_guild_with_their_options(db: Database) -> None:
    await db.guilds.join(GUILD)
    first = await _poll(db)
    second = await db.polls.create(GUILD, CHANNEL, AUTHOR, "Tabs or spaces?", ["tabs", "spaces"], kind="reaction")
    assert (first.number, second.number) == (1, 2)
    assert [(o.position, o.label, o.emoji, o.votes) for o in first.options] == [
        (1, "pizza", "1️⃣", 0),
        (2, "sushi", "2️⃣", 0),
        (3, "salad", "3️⃣", 0),
    ]
    assert (second.kind, second.status) == ("reaction", PollStatus.OPEN)


async def test_one_vote_per_member_and_changing_it_moves_both_counts(db: Database) -> None:
    await db.guilds.join(GUILD)
    await _poll(db)
    first = await db.polls.vote(GUILD, 1, MEMBERS[0], 1)
    assert (first.is_changed, first.previous_position) == (True, None)
    again = await db.polls.vote(GUILD, 1, MEMBERS[0], 1)
    assert (again.is_changed, again.previous_position) == (False, 1)
    changed = await db.polls.vote(GUILD, 1, MEMBERS[0], 3)
    assert (changed.is_changed, changed.previous_position) == (True, 1)
    await db.polls.vote(GUILD, 1, MEMBERS[1], 3)
    poll = await db.polls.get(GUILD, 1)
    assert poll is not None
    assert [o.votes for o in poll.options] == [0, 0, 2]
    assert await db.polls.tally(GUILD, 1) == {1: 0, 2: 0, 3: 2}
    retracted = await db.polls.retract(GUILD, 1, MEMBERS[0], position=2)  # a removed reaction that is not the vote
    assert not retracted.is_changed
    retracted = await db.polls.retract(GUILD, 1, MEMBERS[0])
    assert (retracted.is_changed, retracted.previous_position) == (True, 3)
    assert await db.polls.tally(GUILD, 1) == {1: 0, 2: 0, 3: 1}


async def test_100_members_voting_and_changing_votes_concurrently_keep_counts_equal_to_the_rows(
    pooled_db: Database,
) -> None:
    db = pooled_db
    await db.guilds.join(GUILD)
    await _poll(db)
    rng = random.Random(17)

    async def member(user_id: int) -> None:
        for _ in range(4):  # vote, change, sometimes retract, vote again
            await db.polls.vote(GUILD, 1, user_id, rng.randint(1, 3))
            if rng.random() < 0.3:
                await db.polls.retract(GUILD, 1, user_id)
        await db.polls.vote(GUILD, 1, user_id, rng.randint(1, 3))

    await asyncio.gather(*(member(user_id) for user_id in MEMBERS))
    poll = await db.polls.get(GUILD, 1)
    assert poll is not None
    rows = await db.polls.tally(GUILD, 1)
    assert {o.position: o.votes for o in poll.options} == rows
    assert sum(rows.values()) == len(MEMBERS) == poll.total_votes


async def test_one_member_voting_many_times_at_once_still_holds_one_vote(pooled_db: Database) -> None:
    db = pooled_db
    await db.guilds.join(GUILD)
    await _poll(db)
    await asyncio.gather(*(db.polls.vote(GUILD, 1, MEMBERS[0], 1 + n % 3) for n in range(30)))
    rows = await db.polls.tally(GUILD, 1)
    poll = await db.polls.get(GUILD, 1)
    assert poll is not None
    assert sum(rows.values()) == 1
    assert {o.position: o.votes for o in poll.options} == rows


async def test_a_poll_banned_member_can_neither_vote_nor_create(db: Database) -> None:
    await db.guilds.join(GUILD)
    await _poll(db)
    await db.cases.create(GUILD, MEMBERS[0], MOD, "POLLBAN")
    with pytest.raises(PermissionDeniedError, match="poll-banned"):
        await db.polls.vote(GUILD, 1, MEMBERS[0], 1)
    with pytest.raises(PermissionDeniedError, match="poll-banned"):
        await db.polls.create(GUILD, CHANNEL, MEMBERS[0], "Mine?", ["a", "b"])
    assert await db.polls.tally(GUILD, 1) == {1: 0, 2: 0, 3: 0}
    await db.cases.create(GUILD, MEMBERS[0], MOD, "POLLUNBAN")
    assert (await db.polls.vote(GUILD, 1, MEMBERS[0], 1)).is_changed


async def test_a_closed_poll_takes_no_votes_and_closing_is_audited(db: Database) -> None:
    await db.guilds.join(GUILD)
    created = await _poll(db)
    await db.polls.vote(GUILD, 1, MEMBERS[0], 2)
    closed = await db.polls.close(GUILD, 1)
    assert closed.status is PollStatus.CLOSED
    assert closed.closed_at is not None
    with pytest.raises(ConflictError, match="closed"):
        await db.polls.vote(GUILD, 1, MEMBERS[1], 1)
    with pytest.raises(ConflictError, match="closed"):
        await db.polls.close(GUILD, 1)
    with pytest.raises(NotFoundError, match="poll #9"):
        await db.polls.vote(GUILD, 9, MEMBERS[1], 1)
    with pytest.raises(NotFoundError, match="option 3"):
        await db.polls.create(GUILD, CHANNEL, AUTHOR, "Two?", ["a", "b"])
        await db.polls.vote(GUILD, 2, MEMBERS[1], 3)
    assert await db.polls.delete(GUILD, 1)
    assert await db.polls.get(GUILD, 1) is None
    trail = list(reversed(await db.audit.for_entity(AuditEntity.POLL, created.poll_id)))
    assert [row.action for row in trail] == [AuditAction.POLL_CREATE, AuditAction.POLL_CLOSE, AuditAction.POLL_DELETE]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (["only"], "options"),
        ([f"o{n}" for n in range(11)], "options"),
        (["a", "A"], "options"),
        (["a", ""], "options.1"),
    ],
)
async def test_bad_options_are_refused_by_name(db: Database, options: list[str], field: str) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(ValidationError) as raised:
        await db.polls.create(GUILD, CHANNEL, AUTHOR, "Q?", options)
    assert raised.value.fields == [field]
    with pytest.raises(ValidationError) as raised:
        await db.polls.create(GUILD, CHANNEL, AUTHOR, "Q?", ["a", "b"], ends_at=utcnow() - timedelta(minutes=1))
    assert raised.value.fields == ["ends_at"]


async def test_the_open_polls_list_is_cached_and_dropped_by_each_write(db: Database) -> None:
    await db.guilds.join(GUILD)
    assert (await db.polls.open_polls(GUILD)).polls == []
    await _poll(db)
    await db.polls.set_message(GUILD, 1, CHANNEL + 1)
    found = await db.polls.open_polls(GUILD)
    assert found.by_message(CHANNEL + 1) is not None
    assert found.by_message(CHANNEL + 1).emojis == ["1️⃣", "2️⃣", "3️⃣"]  # type: ignore[union-attr]
    await db.polls.close(GUILD, 1)
    assert (await db.polls.open_polls(GUILD)).polls == []


async def test_a_timed_poll_is_closed_by_its_job_through_the_real_runner(pooled_db: Database) -> None:
    db = pooled_db
    await db.guilds.join(GUILD)
    shown: list[PollRead] = []

    async def end_poll(poll: PollRead, _attempt: int) -> None:
        shown.append(poll)

    created = await _poll(db, ends_at=utcnow() + timedelta(hours=1))
    await db.polls.vote(GUILD, 1, MEMBERS[0], 2)
    cancelled = await _poll(db, ends_at=utcnow() + timedelta(hours=1))
    await db.polls.close(GUILD, cancelled.number)  # closed by hand: its job is cancelled with it
    # The clock moved on purpose (no race with a short deadline): the poll's end and its job are due now.
    async with db.session() as session:
        await session.execute(
            text("UPDATE poll SET ends_at = now() WHERE guild_id = :g AND number = :n"),
            {"g": GUILD, "n": created.number},
        )
        await session.execute(
            text("UPDATE job SET run_at = now() WHERE guild_id = :g AND kind = :kind AND status = 'pending'"),
            {"g": GUILD, "kind": POLL_CLOSE.name},
        )
    registry = JobRegistry()
    register_builtin(registry, BotActions(end_poll=end_poll))
    runner = JobRunner(db, registry)
    task = asyncio.create_task(runner.run())
    try:
        for _ in range(200):
            poll = await db.polls.get(GUILD, created.number)
            if poll is not None and poll.status is PollStatus.CLOSED:
                break
            await asyncio.sleep(0.05)
    finally:
        runner.stop()
        await task
    poll = await db.polls.get(GUILD, created.number)
    assert poll is not None
    assert poll.status is PollStatus.CLOSED
    assert [(p.number, [o.votes for o in p.options]) for p in shown] == [(1, [0, 1, 0])]
    assert [job.kind for job in await db.jobs.failed()] == []
    closed_by_hand = await db.polls.get(GUILD, cancelled.number)
    assert closed_by_hand is not None
    assert closed_by_hand.closed_at is not None
    assert closed_by_hand.closed_at < poll.closed_at  # type: ignore[operator]
