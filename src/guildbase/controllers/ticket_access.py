"""Who may do what with a ticket (R12.5): one pure rule table, read by ``db.tickets.can``.

Roles, from the ticket's point of view (a person can hold several; the union counts):

============  ====  =====  =====  =====  ===============  ====
role          view  reply  claim  close  add-participant  rate
============  ====  =====  =====  =====  ===============  ====
opener        yes   yes    no     yes    no               yes
participant   yes   yes    no     no     no               no
staff         yes   yes    yes*   yes    yes              no
assignee      yes   yes    yes    yes    yes              no
admin         yes   yes    yes    yes    yes              no
anyone else   no    no     no     no     no               no
============  ====  =====  =====  =====  ===============  ====

Staff are members holding one of the panel's ``staff_role_ids``; the
assignee is whoever claimed it (or was assigned). ``*`` a staff member may
claim a ticket nobody holds; taking it from its holder (a transfer) is for the
holder and admins. The status narrows these: a closed ticket can be viewed,
rated once by its opener and nothing else (reopening is ``close``'s right);
a ticket can only be rated once it is closed, and only once.
"""

from collections.abc import Collection

from guildbase.models.tickets import TicketAction, TicketRead, TicketStatus

__all__ = ["RIGHTS", "TicketRole", "allowed", "roles_of"]

TicketRole = str
OPENER, PARTICIPANT, STAFF, ASSIGNEE, ADMIN = "opener", "participant", "staff", "assignee", "admin"

A = TicketAction
RIGHTS: dict[TicketRole, frozenset[TicketAction]] = {
    OPENER: frozenset({A.VIEW, A.REPLY, A.CLOSE, A.RATE}),
    PARTICIPANT: frozenset({A.VIEW, A.REPLY}),
    STAFF: frozenset({A.VIEW, A.REPLY, A.CLAIM, A.CLOSE, A.ADD_PARTICIPANT}),
    ASSIGNEE: frozenset({A.VIEW, A.REPLY, A.CLAIM, A.CLOSE, A.ADD_PARTICIPANT}),
    ADMIN: frozenset({A.VIEW, A.REPLY, A.CLAIM, A.CLOSE, A.ADD_PARTICIPANT}),
}
"""The table above, as data (``tests/controllers/test_tickets_access.py`` checks every cell)."""


def roles_of(
    ticket: TicketRead,
    user_id: int,
    role_ids: Collection[int],
    *,
    staff_role_ids: Collection[int],
    participant_ids: Collection[int],
    is_admin: bool,
) -> set[TicketRole]:
    """Every role ``user_id`` holds on ``ticket``."""
    held: set[TicketRole] = set()
    if user_id == ticket.opener_id:
        held.add(OPENER)
    if user_id in participant_ids:
        held.add(PARTICIPANT)
    if set(role_ids) & set(staff_role_ids):
        held.add(STAFF)
    if user_id in {ticket.claimed_by, ticket.assignee_id}:
        held.add(ASSIGNEE)
    if is_admin:
        held.add(ADMIN)
    return held


def allowed(ticket: TicketRead, held: set[TicketRole], action: TicketAction) -> bool:
    """Whether holding ``held`` allows ``action`` on ``ticket`` in its current status."""
    if not any(action in RIGHTS[role] for role in held):
        return False
    closed = ticket.status is TicketStatus.CLOSED
    if action is TicketAction.RATE:
        return closed and ticket.rating is None
    if closed:
        return action in {TicketAction.VIEW, TicketAction.CLOSE}  # close on a closed ticket: the right to reopen
    if action is TicketAction.CLAIM and ticket.claimed_by is not None:
        return bool(held & {ASSIGNEE, ADMIN})  # a transfer: the holder's or an admin's
    return True
