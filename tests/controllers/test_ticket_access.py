"""The ticket access matrix (R12.5): every role x every action, in each status that changes the answer.

The expected answers are written out here, cell by cell, not derived from
``ticket_access.RIGHTS``: a change to the rules must change this table too.
Every refusal leaves an ``access_denied`` event naming the user and the action.
"""

import pytest

from guildbase import Database
from guildbase.models.tickets import TicketAction, TicketEventKind, TicketRead
from guildbase.testing import ids

BLOCK = ids.block()
GUILD = BLOCK + 1
OPENER = BLOCK + 101
PARTICIPANT = BLOCK + 102
STAFF = BLOCK + 103
ASSIGNEE = BLOCK + 104
ADMIN = BLOCK + 105
STRANGER = BLOCK + 106
STAFF_ROLE = BLOCK + 301
OTHER_ROLE = BLOCK + 302

V, R, C, X, P, S = (
    TicketAction.VIEW,
    TicketAction.REPLY,
    TicketAction.CLAIM,
    TicketAction.CLOSE,
    TicketAction.ADD_PARTICIPANT,
    TicketAction.RATE,
)
WHO: dict[str, tuple[int, list[int], bool]] = {
    # role: (user, their roles, is_admin)
    "opener": (OPENER, [OTHER_ROLE], False),
    "participant": (PARTICIPANT, [], False),
    "staff": (STAFF, [STAFF_ROLE], False),
    "assignee": (ASSIGNEE, [STAFF_ROLE], False),
    "admin": (ADMIN, [], True),
    "stranger": (STRANGER, [OTHER_ROLE], False),
}
UNCLAIMED = {
    "opener": {V, R, X},
    "participant": {V, R},
    "staff": {V, R, C, X, P},
    "assignee": {V, R, C, X, P},  # staff too, and the ticket is free to claim
    "admin": {V, R, C, X, P},
    "stranger": set(),
}
CLAIMED = {  # held by ASSIGNEE: another staff member may not take it (only the holder or an admin transfers)
    "opener": {V, R, X},
    "participant": {V, R},
    "staff": {V, R, X, P},
    "assignee": {V, R, C, X, P},
    "admin": {V, R, C, X, P},
    "stranger": set(),
}
CLOSED = {  # view, close (the right to reopen) and, for the opener, one rating
    "opener": {V, X, S},
    "participant": {V},
    "staff": {V, X},
    "assignee": {V, X},
    "admin": {V, X},
    "stranger": set(),
}
RATED = CLOSED | {"opener": {V, X}}


async def _ticket(db: Database) -> TicketRead:
    await db.guilds.join(GUILD)
    await db.guild_config.set_feature(GUILD, "tickets", enabled=True)
    panel = await db.tickets.create_panel(GUILD, "Support", staff_role_ids=[STAFF_ROLE])
    ticket = await db.tickets.open(GUILD, panel.panel_id, OPENER)
    await db.tickets.add_participant(GUILD, ticket.number, PARTICIPANT)
    return ticket


async def _matrix(db: Database, ticket: TicketRead) -> dict[str, set[TicketAction]]:
    found = {}
    for role, (user, roles, is_admin) in WHO.items():
        found[role] = {a for a in TicketAction if await db.tickets.can(ticket, user, roles, a, is_admin=is_admin)}
    return found


@pytest.mark.parametrize("state", ["unclaimed", "claimed", "closed", "rated"])
async def test_every_role_gets_exactly_its_rights(db: Database, state: str) -> None:
    ticket = await _ticket(db)
    expected = UNCLAIMED
    if state == "claimed":
        ticket, expected = await db.tickets.claim(GUILD, ticket.number, ASSIGNEE), CLAIMED
    if state in {"closed", "rated"}:
        await db.tickets.claim(GUILD, ticket.number, ASSIGNEE)
        ticket, expected = await db.tickets.close(GUILD, ticket.number), CLOSED
    if state == "rated":
        ticket, expected = await db.tickets.rate(GUILD, ticket.number, OPENER, 5), RATED
    before = len(await db.tickets.events(GUILD, ticket.number))
    assert await _matrix(db, ticket) == expected
    denied = (await db.tickets.events(GUILD, ticket.number))[before:]
    assert all(e.kind is TicketEventKind.ACCESS_DENIED for e in denied)
    refusals = sorted((role, a.value) for role in WHO for a in TicketAction if a not in expected[role])
    logged = sorted(
        (next(role for role, who in WHO.items() if who[0] == e.actor_id), e.details["action"]) for e in denied
    )
    assert logged == refusals, "every refusal is logged once, naming the user and the action"
