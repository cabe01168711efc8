"""Tickets (R12.1-R12.3): panels, numbered opens and their guards, the state machine, management, the trail.

Numbering is proven where it matters: 32 concurrent opens in one guild on a
real pool, and two processes opening at once, leave 1..N with no gap and no
duplicate.
"""

import asyncio
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from guildbase import Database, Settings
from guildbase.controllers.ticket_common import TicketStateError
from guildbase.db.context import acting_as
from guildbase.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity, AuditLog
from guildbase.models.tickets import (
    TICKET_AUTOCLOSE,
    TICKET_SCHEDULED_CLOSE,
    Ticket,
    TicketEventKind,
    TicketPanelRead,
    TicketStatus,
)
from guildbase.testing import ids

pytestmark = pytest.mark.clock  # close requests and cooldowns are measured from now

BLOCK = ids.block()
GUILD = BLOCK + 1
USER = BLOCK + 101
OTHER = BLOCK + 102
STAFF = BLOCK + 201
STAFF2 = BLOCK + 202
STAFF_ROLE = BLOCK + 301
MEMBER_ROLE = BLOCK + 302
CHANNEL = BLOCK + 401
K = TicketEventKind


async def setup(db: Database, **settings: object) -> TicketPanelRead:
    await db.guilds.join(GUILD)
    await db.guild_config.set_feature(GUILD, "tickets", enabled=True)
    return await db.tickets.create_panel(
        GUILD, "Support", staff_role_ids=[STAFF_ROLE], questions=["What happened?"], **settings
    )


async def kinds(db: Database, number: int) -> list[TicketEventKind]:
    return [event.kind for event in await db.tickets.events(GUILD, number)]


async def test_open_numbers_the_ticket_and_writes_its_row_event_audit_and_rollup(db: Database) -> None:
    panel = await setup(db, open_limit=5)
    with acting_as(USER):
        first = await db.tickets.open(
            GUILD, panel.panel_id, USER, subject="login broken", answers={"What happened?": "it broke"}
        )
        second = await db.tickets.open(GUILD, panel.panel_id, USER)
    assert (first.number, second.number) == (1, 2)
    assert (first.status, first.opener_id, first.subject) == (TicketStatus.OPEN, USER, "login broken")
    assert first.answers == {"What happened?": "it broke"}
    assert first.first_response_at is None
    events = await db.tickets.events(GUILD, 1)
    assert [(e.kind, e.actor_id) for e in events] == [(K.OPENED, USER)]
    async with db.session() as session:
        audits = (
            await session.scalars(
                select(AuditLog).where(
                    AuditLog.entity_id == str(first.ticket_id), AuditLog.entity_type == AuditEntity.TICKET
                )
            )
        ).all()
        opened = await session.execute(text("SELECT sum(opened) FROM ticket_daily WHERE guild_id = :g"), {"g": GUILD})
    assert [a.action for a in audits] == [AuditAction.TICKET_OPEN]
    assert audits[0].after["number"] == 1
    assert opened.scalar_one() == 2


async def test_open_refuses_by_limit_cooldown_roles_inactivity_and_unknown_questions(db: Database) -> None:
    panel = await setup(db, required_role_ids=[MEMBER_ROLE], cooldown_seconds=3600)
    with pytest.raises(PermissionDeniedError, match="role_ids"):
        await db.tickets.open(GUILD, panel.panel_id, USER)
    with pytest.raises(ValidationError, match="answers"):
        await db.tickets.open(GUILD, panel.panel_id, USER, role_ids=[MEMBER_ROLE], answers={"Nope?": "x"})
    ticket = await db.tickets.open(GUILD, panel.panel_id, USER, role_ids=[MEMBER_ROLE])
    with pytest.raises(ConflictError, match=r"opener_id: already has 1 open ticket\(s\) here \(limit 1\)"):
        await db.tickets.open(GUILD, panel.panel_id, USER, role_ids=[MEMBER_ROLE])
    await db.tickets.close(GUILD, ticket.number)
    with pytest.raises(ConflictError, match="cooldown"):
        await db.tickets.open(GUILD, panel.panel_id, USER, role_ids=[MEMBER_ROLE])
    await db.tickets.update_panel(GUILD, panel.panel_id, is_active=False)
    with pytest.raises(ConflictError, match="not taking tickets"):
        await db.tickets.open(GUILD, panel.panel_id, OTHER, role_ids=[MEMBER_ROLE])
    with pytest.raises(NotFoundError, match="panel_id"):
        await db.tickets.open(GUILD, panel.panel_id + 1000, OTHER)
    async with db.session() as session:
        count = (await session.execute(select(func.count()).select_from(Ticket))).scalar_one()
    assert count == 1, "a refused open writes nothing, and gives no number away"
    reopened_panel = await db.tickets.update_panel(GUILD, panel.panel_id, is_active=True)
    assert (await db.tickets.open(GUILD, reopened_panel.panel_id, OTHER, role_ids=[MEMBER_ROLE])).number == 2


async def test_panel_settings_are_validated_stored_and_cleared(db: Database) -> None:
    panel = await setup(
        db,
        mode="channel",
        category_id=CHANNEL,
        inactivity_seconds=3600,
        working_hours={"weekdays": [0, 1], "start_hour": 9, "end_hour": 17},
        naming_scheme="help-{number}-{user}",
    )
    assert panel.mode.value == "channel"
    assert panel.working_hours is not None
    assert panel.working_hours.weekdays == [0, 1]
    assert panel.ticket_name(7, "alice") == "help-0007-alice"
    with pytest.raises(ValidationError, match="questions"):
        await db.tickets.update_panel(GUILD, panel.panel_id, questions=["q"] * 6)
    with pytest.raises(ValidationError, match="end_hour"):
        await db.tickets.update_panel(GUILD, panel.panel_id, working_hours={"start_hour": 10, "end_hour": 9})
    cleared = await db.tickets.update_panel(GUILD, panel.panel_id, inactivity_seconds=None, working_hours=None)
    assert (cleared.inactivity_seconds, cleared.working_hours, cleared.category_id) == (None, None, CHANNEL)
    assert [p.label for p in await db.tickets.panels(GUILD)] == ["Support"]


async def test_the_state_machine_refuses_an_illegal_transition_by_name(db: Database) -> None:
    panel = await setup(db)
    ticket = await db.tickets.open(GUILD, panel.panel_id, USER)
    await db.tickets.close(GUILD, ticket.number)
    with pytest.raises(TicketStateError, match="status: ticket #1 is closed; it cannot become claimed") as caught:
        await db.tickets.claim(GUILD, ticket.number, STAFF)
    assert (caught.value.current, caught.value.target) == (TicketStatus.CLOSED, TicketStatus.CLAIMED)
    with pytest.raises(TicketStateError, match="cannot become pending"):
        await db.tickets.request_close(GUILD, ticket.number)
    with pytest.raises(TicketStateError, match="cannot become closed"):
        await db.tickets.close(GUILD, ticket.number)
    with pytest.raises(TicketStateError, match="ticket #2 is open; it cannot become open"):
        await db.tickets.reopen(GUILD, (await db.tickets.open(GUILD, panel.panel_id, OTHER)).number)


async def test_claim_unclaim_transfer_rename_and_participants_are_trailed(db: Database) -> None:
    panel = await setup(db)
    ticket = await db.tickets.open(GUILD, panel.panel_id, USER)
    with acting_as(STAFF):
        claimed = await db.tickets.claim(GUILD, ticket.number, STAFF)
        assert await db.tickets.claim(GUILD, ticket.number, STAFF) == claimed  # again: nothing changes
        with pytest.raises(ConflictError, match="transfer it instead"):
            await db.tickets.claim(GUILD, ticket.number, STAFF2)
        moved = await db.tickets.transfer(GUILD, ticket.number, STAFF2)
        renamed = await db.tickets.rename(GUILD, ticket.number, "billing question")
        assert await db.tickets.add_participant(GUILD, ticket.number, OTHER)
        assert not await db.tickets.add_participant(GUILD, ticket.number, OTHER)
        assert await db.tickets.participants(GUILD, ticket.number) == [OTHER]
        assert await db.tickets.remove_participant(GUILD, ticket.number, OTHER)
        assert not await db.tickets.remove_participant(GUILD, ticket.number, OTHER)
        unclaimed = await db.tickets.unclaim(GUILD, ticket.number)
    assert (claimed.status, claimed.claimed_by, claimed.assignee_id) == (TicketStatus.CLAIMED, STAFF, STAFF)
    assert (moved.claimed_by, moved.assignee_id) == (STAFF2, STAFF2)
    assert renamed.subject == "billing question"
    assert (unclaimed.status, unclaimed.claimed_by) == (TicketStatus.OPEN, None)
    events = await db.tickets.events(GUILD, ticket.number)
    assert [e.kind for e in events] == [
        K.OPENED,
        K.CLAIMED,
        K.TRANSFERRED,
        K.RENAMED,
        K.PARTICIPANT_ADDED,
        K.PARTICIPANT_REMOVED,
        K.UNCLAIMED,
    ]
    assert {e.actor_id for e in events[1:]} == {STAFF}
    assert events[2].details == {"from": STAFF, "to": STAFF2}
    async with db.session() as session:
        actions = (
            await session.scalars(
                select(AuditLog.action).where(
                    AuditLog.entity_id == str(ticket.ticket_id), AuditLog.entity_type == AuditEntity.TICKET
                )
            )
        ).all()
    assert actions.count(AuditAction.TICKET_CHANGE) == 6


async def test_first_staff_response_is_set_once_and_counts_messages(db: Database) -> None:
    panel = await setup(db)
    ticket = await db.tickets.open(GUILD, panel.panel_id, USER)
    await db.tickets.set_channel(GUILD, ticket.number, CHANNEL)
    after_opener = await db.tickets.record_message(GUILD, CHANNEL, BLOCK + 501, USER, "hello?")
    assert after_opener is not None
    assert after_opener.first_response_at is None
    first = await db.tickets.record_message(GUILD, CHANNEL, BLOCK + 502, STAFF, "on it", role_ids=[STAFF_ROLE])
    second = await db.tickets.record_message(GUILD, CHANNEL, BLOCK + 503, STAFF2, "me too", is_admin=True)
    again = await db.tickets.record_message(GUILD, CHANNEL, BLOCK + 503, STAFF2, "me too", is_admin=True)
    assert first is not None
    assert second is not None
    assert first.first_response_at is not None
    assert second.first_response_at == first.first_response_at
    assert again == second, "a redelivered message counts once"
    assert (second.message_count, second.staff_message_count) == (3, 2)
    assert await kinds(db, ticket.number) == [K.OPENED, K.FIRST_RESPONSE]
    assert await db.tickets.record_message(GUILD, BLOCK + 499, BLOCK + 504, USER, "elsewhere") is None


async def test_a_close_request_is_cancelled_when_the_opener_answers(db: Database) -> None:
    panel = await setup(db)
    ticket = await db.tickets.open(GUILD, panel.panel_id, USER)
    await db.tickets.set_channel(GUILD, ticket.number, CHANNEL)
    await db.tickets.claim(GUILD, ticket.number, STAFF)
    pending = await db.tickets.request_close(GUILD, ticket.number, reason="solved?", delay=timedelta(hours=1))
    assert pending.status is TicketStatus.PENDING
    assert pending.close_at is not None
    job = await _live_job(db, TICKET_SCHEDULED_CLOSE.name, ticket.ticket_id)
    assert job == 1
    await db.tickets.record_message(GUILD, CHANNEL, BLOCK + 511, STAFF, "anything else?", role_ids=[STAFF_ROLE])
    assert (await db.tickets.get(GUILD, ticket.number)).status is TicketStatus.PENDING  # type: ignore[union-attr]
    back = await db.tickets.record_message(GUILD, CHANNEL, BLOCK + 512, USER, "not yet!")
    assert back is not None
    assert (back.status, back.close_at, back.claimed_by) == (TicketStatus.CLAIMED, None, STAFF)
    assert await _live_job(db, TICKET_SCHEDULED_CLOSE.name, ticket.ticket_id) == 0
    assert await kinds(db, ticket.number) == [
        K.OPENED,
        K.CLAIMED,
        K.CLOSE_REQUESTED,
        K.FIRST_RESPONSE,
        K.CLOSE_CANCELLED,
    ]


async def test_the_scheduled_and_idle_closes_recheck_the_ticket(db: Database) -> None:
    panel = await setup(db, inactivity_seconds=600)
    ticket = await db.tickets.open(GUILD, panel.panel_id, USER)
    await db.tickets.set_channel(GUILD, ticket.number, CHANNEL)
    assert await _live_job(db, TICKET_AUTOCLOSE.name, ticket.ticket_id) == 1
    await db.tickets.request_close(GUILD, ticket.number, delay=timedelta(hours=1))
    async with db.session() as session:
        assert await db.tickets.close_scheduled_in(session, GUILD, ticket.number) is None  # not due yet
        assert await db.tickets.close_idle_in(session, GUILD, ticket.number) is None  # not idle yet
        await session.execute(
            text("UPDATE ticket SET close_at = now() - interval '1 second' WHERE ticket_id = :t"),
            {"t": ticket.ticket_id},
        )
        closed = await db.tickets.close_scheduled_in(session, GUILD, ticket.number)
    assert closed is not None
    assert (closed.status, closed.close_reason) == (TicketStatus.CLOSED, "no reply to the close request")
    assert await _live_job(db, TICKET_AUTOCLOSE.name, ticket.ticket_id) == 0, "closing cancels the idle close"
    other = await db.tickets.open(GUILD, panel.panel_id, OTHER)
    async with db.session() as session:
        await session.execute(
            text("UPDATE ticket SET opened_at = now() - interval '11 minutes' WHERE ticket_id = :t"),
            {"t": other.ticket_id},
        )
        idle = await db.tickets.close_idle_in(session, GUILD, other.number)
    assert idle is not None
    assert idle.close_reason == "inactive"


async def test_close_reopen_and_feedback_once(db: Database) -> None:
    panel = await setup(db, close_on_leave=True)
    ticket = await db.tickets.open(GUILD, panel.panel_id, USER)
    with pytest.raises(ConflictError, match="rated once closed"):
        await db.tickets.rate(GUILD, ticket.number, USER, 5)
    with acting_as(STAFF):
        closed = await db.tickets.close(GUILD, ticket.number, reason="done")
    assert (closed.closed_by, closed.close_reason) == (STAFF, "done")
    with pytest.raises(PermissionDeniedError, match="only the opener"):
        await db.tickets.rate(GUILD, ticket.number, OTHER, 5)
    with pytest.raises(ValidationError, match="stars"):
        await db.tickets.rate(GUILD, ticket.number, USER, 6)
    rated = await db.tickets.rate(GUILD, ticket.number, USER, 4, comment="quick")
    assert (rated.rating, rated.rating_comment) == (4, "quick")
    with pytest.raises(ConflictError, match="already rated"):
        await db.tickets.rate(GUILD, ticket.number, USER, 5)
    reopened = await db.tickets.reopen(GUILD, ticket.number)
    assert (reopened.status, reopened.closed_at, reopened.rating) == (TicketStatus.OPEN, None, 4)
    left = await db.tickets.opener_left(GUILD, USER)
    assert [(t.number, t.close_reason) for t in left] == [(1, "the opener left the server")]
    assert await kinds(db, ticket.number) == [K.OPENED, K.CLOSED, K.RATED, K.REOPENED, K.CLOSED]


async def _live_job(db: Database, kind: str, ticket_id: int) -> int:
    async with db.session() as session:
        result = await session.execute(
            text("SELECT count(*) FROM job WHERE kind = :k AND dedupe_key = :d AND status IN ('pending', 'running')"),
            {"k": kind, "d": str(ticket_id)},
        )
        return int(result.scalar_one())


async def _numbers(db: Database) -> list[int]:
    async with db.session() as session:
        rows = await session.execute(select(Ticket.number).where(Ticket.guild_id == GUILD).order_by(Ticket.number))
        return list(rows.scalars())


async def test_32_concurrent_opens_in_one_guild_number_1_to_32(pooled_db: Database) -> None:
    panel = await setup(pooled_db)
    openers = [BLOCK + 600 + index for index in range(32)]
    opened = await asyncio.gather(*(pooled_db.tickets.open(GUILD, panel.panel_id, user) for user in openers))
    assert sorted(t.number for t in opened) == list(range(1, 33))
    assert await _numbers(pooled_db) == list(range(1, 33))
    async with pooled_db.session() as session:
        events = await session.execute(text("SELECT count(*) FROM ticket_event WHERE guild_id = :g"), {"g": GUILD})
        rollup = await session.execute(text("SELECT sum(opened) FROM ticket_daily WHERE guild_id = :g"), {"g": GUILD})
    assert (events.scalar_one(), rollup.scalar_one()) == (32, 32)


async def test_one_member_double_clicking_gets_one_ticket(pooled_db: Database) -> None:
    panel = await setup(pooled_db)
    outcomes = await asyncio.gather(
        *(pooled_db.tickets.open(GUILD, panel.panel_id, USER) for _ in range(8)), return_exceptions=True
    )
    assert sum(1 for o in outcomes if not isinstance(o, BaseException)) == 1
    assert all(isinstance(o, ConflictError) for o in outcomes if isinstance(o, BaseException))
    assert await _numbers(pooled_db) == [1]


START_GATE = 4_242_019
OPENS_PER_PROCESS = 12
RACE_SCRIPT = """
import asyncio, sys
from sqlalchemy import text
from guildbase import Database

url, redis_url, guild, panel, first_user, count, gate = sys.argv[1], sys.argv[2] or None, *map(int, sys.argv[3:])

async def main() -> None:
    db = await Database.from_url(url, redis_url=redis_url, pool_size=4).connect()
    async with db.engine.connect() as connection:  # wait at the gate the test holds
        await connection.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": gate})
        await connection.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": gate})
    await asyncio.gather(*(db.tickets.open(guild, panel, first_user + i) for i in range(count)))
    await db.close()

asyncio.run(main())
"""


@pytest.mark.slow
async def test_numbers_stay_contiguous_across_two_processes(pooled_db: Database, settings: Settings) -> None:
    panel = await setup(pooled_db)
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
                *(str(v) for v in (GUILD, panel.panel_id, BLOCK + 700 + 100 * index, OPENS_PER_PROCESS, START_GATE)),
                stderr=asyncio.subprocess.PIPE,
            )
            for index in range(2)
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
    assert await _numbers(pooled_db) == list(range(1, 2 * OPENS_PER_PROCESS + 1))
