"""The session class behind every guildbase unit of work.

It is a ``Session`` subclass so the soft-delete filter, the audit stamping and
the collection of stale cache keys (``db.stale``) apply to guildbase's sessions
only, never to unrelated sessions in the same process. ``AsyncSession`` wraps it (``sync_session_class``), so both kinds
share this one behaviour.
"""

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from guildbase.db.mixins import AuditMixin, SoftDeleteMixin, actor_columns, live, stamp
from guildbase.db.stale import mark_stale

INCLUDE_DELETED = "include_deleted"
"""Execution option that lets a select see soft-deleted rows."""


class GuildbaseSession(Session):
    """A SQLAlchemy session that hides soft-deleted rows, stamps the actor and notes stale cache keys."""


@event.listens_for(GuildbaseSession, "do_orm_execute")
def _hide_soft_deleted(state: ORMExecuteState) -> None:
    if (
        state.is_select
        and not state.is_column_load
        and not state.is_relationship_load
        and not state.execution_options.get(INCLUDE_DELETED, False)
    ):
        for mapper in state.all_mappers:
            model = mapper.class_
            if issubclass(model, SoftDeleteMixin):
                state.statement = state.statement.options(
                    with_loader_criteria(model, live(model), include_aliases=True)
                )


@event.listens_for(GuildbaseSession, "before_flush")
def _stamp_actor(session: Session, _context: Any, _instances: Any) -> None:
    """ORM writes take their actor columns from ``actor_columns``, like every other path.

    A value the caller set itself (a method's explicit ``actor_id``) is kept.
    """
    for obj in session.new:
        if isinstance(obj, AuditMixin):
            for name, value in actor_columns(type(obj), "insert").items():
                if getattr(obj, name) is None:
                    setattr(obj, name, value)
    for obj in session.dirty:
        if isinstance(obj, AuditMixin) and session.is_modified(obj):
            if inspect(obj).attrs.updated_by.history.has_changes():
                continue
            stamp(obj, "update")


@event.listens_for(GuildbaseSession, "after_flush")
def _note_stale_keys(session: Session, _context: Any) -> None:
    # Still the pre-flush state here: new, dirty and deleted list what this flush wrote.
    mark_stale(session, [*session.new, *session.dirty, *session.deleted])
