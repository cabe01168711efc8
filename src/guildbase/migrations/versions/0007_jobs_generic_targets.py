"""Jobs point at their domain through a typed payload: drop the per-domain triggers and columns.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00.000000

Until now ``mod_case``, ``reminder`` and ``afk`` enqueued their jobs through
triggers, and ``job`` carried a column per domain (``case_id``,
``reminder_id``, ``user_id``) plus ``ck_job_one_target`` and ``uq_job_afk``.
Controllers now enqueue in their own unit of work (``db.jobs.enqueue_in``)
with a typed payload and a ``dedupe_key``, so a new domain needs no migration.

The upgrade rewrites existing jobs to the new shape (payload and dedupe key
from the old columns), then drops the triggers, functions, columns and their
constraints. The downgrade restores the columns from the payloads (dropping
jobs whose row is gone, and all but the newest job of an AFK, as the old
cascades and triggers would have), then recreates the triggers. The generic
``job_notify`` trigger stays: it is no domain's.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The 0005 definitions, restored by the downgrade.
FUNCTIONS = {
    "mod_case_enqueue_expiry": """
        BEGIN
            INSERT INTO job (kind, run_at, guild_id, user_id, case_id, payload)
            SELECT lower(NEW.type::text) || '_expiry', NEW.expires_at, NEW.guild_id, NEW.user_id, NEW.case_id,
                   jsonb_build_object('number', NEW.number)
            ON CONFLICT (case_id) DO NOTHING;
            RETURN NULL;
        END
    """,
    "reminder_enqueue_delivery": """
        BEGIN
            INSERT INTO job (kind, run_at, guild_id, user_id, reminder_id, max_attempts)
            SELECT 'reminder_delivery', NEW.remind_at, NEW.guild_id, NEW.user_id, NEW.reminder_id, NEW.max_attempts
            ON CONFLICT (reminder_id) DO NOTHING;
            RETURN NULL;
        END
    """,
    "afk_sync_expiry": """
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                DELETE FROM job WHERE kind = 'afk_expiry' AND guild_id = OLD.guild_id AND user_id = OLD.user_id;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.until IS NOT NULL THEN
                INSERT INTO job (kind, run_at, guild_id, user_id) VALUES ('afk_expiry', NEW.until, NEW.guild_id, NEW.user_id);
            END IF;
            RETURN NULL;
        END
    """,
}
TRIGGERS = {
    "mod_case_enqueue_expiry": (
        "mod_case",
        (
            "AFTER INSERT ON mod_case FOR EACH ROW "
            "WHEN (NEW.expires_at IS NOT NULL AND NEW.status = 'active' AND NEW.processed_at IS NULL)"
        ),
    ),
    "reminder_enqueue_delivery": (
        "reminder",
        "AFTER INSERT ON reminder FOR EACH ROW WHEN (NEW.status = 'pending')",
    ),
    "afk_sync_expiry": ("afk", "AFTER INSERT OR UPDATE OR DELETE ON afk FOR EACH ROW"),
}


def upgrade() -> None:
    for name, (table, _when) in TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(f"DROP FUNCTION {name}()")
    op.execute(
        "UPDATE job SET payload = jsonb_build_object('guild_id', guild_id, 'number', payload -> 'number'), "
        "dedupe_key = case_id::text WHERE case_id IS NOT NULL"
    )
    op.execute(
        "UPDATE job SET payload = jsonb_build_object('reminder_id', reminder_id), dedupe_key = reminder_id::text "
        "WHERE reminder_id IS NOT NULL"
    )
    op.execute(
        "UPDATE job SET payload = jsonb_build_object('guild_id', guild_id, 'user_id', user_id, 'until', run_at), "
        "dedupe_key = guild_id || ':' || user_id WHERE kind = 'afk_expiry' AND user_id IS NOT NULL"
    )
    op.drop_index("uq_job_afk", table_name="job", postgresql_where=sa.text("kind = 'afk_expiry'"))
    op.drop_constraint(op.f("ck_job_one_target"), "job", type_="check")
    op.drop_constraint(op.f("uq_job_case_id"), "job", type_="unique")
    op.drop_constraint(op.f("uq_job_reminder_id"), "job", type_="unique")
    op.drop_constraint(op.f("fk_job_case_id_mod_case"), "job", type_="foreignkey")
    op.drop_constraint(op.f("fk_job_reminder_id_reminder"), "job", type_="foreignkey")
    op.drop_column("job", "case_id")
    op.drop_column("job", "reminder_id")
    op.drop_column("job", "user_id")  # takes ck_job_user_id_positive with it


def downgrade() -> None:
    op.add_column("job", sa.Column("user_id", sa.BigInteger(), nullable=True))
    op.add_column("job", sa.Column("case_id", sa.BigInteger(), nullable=True))
    op.add_column("job", sa.Column("reminder_id", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE job SET case_id = c.case_id, user_id = c.user_id, "
        "payload = jsonb_build_object('number', c.number), dedupe_key = NULL "
        "FROM mod_case AS c WHERE job.kind IN ('tempban_expiry', 'timeout_expiry', 'jail_expiry') "
        "AND c.guild_id = job.guild_id AND c.number = (job.payload ->> 'number')::int"
    )
    op.execute(
        "UPDATE job SET reminder_id = r.reminder_id, user_id = r.user_id, payload = '{}'::jsonb, dedupe_key = NULL "
        "FROM reminder AS r WHERE job.kind = 'reminder_delivery' "
        "AND r.reminder_id = (job.payload ->> 'reminder_id')::bigint"
    )
    op.execute(
        "UPDATE job SET user_id = (payload ->> 'user_id')::bigint, payload = '{}'::jsonb, dedupe_key = NULL "
        "WHERE kind = 'afk_expiry'"
    )
    # What the old cascades and triggers allowed: one job per case, per reminder, per AFK.
    op.execute("DELETE FROM job WHERE kind IN ('tempban_expiry', 'timeout_expiry', 'jail_expiry') AND case_id IS NULL")
    op.execute("DELETE FROM job WHERE kind = 'reminder_delivery' AND reminder_id IS NULL")
    op.execute(
        "DELETE FROM job WHERE job_id IN (SELECT job_id FROM ("
        "SELECT job_id, row_number() OVER (PARTITION BY kind, coalesce(case_id, reminder_id) ORDER BY job_id DESC) AS n "
        "FROM job WHERE case_id IS NOT NULL OR reminder_id IS NOT NULL) AS ranked WHERE n > 1)"
    )
    op.execute(
        "DELETE FROM job WHERE job_id IN (SELECT job_id FROM ("
        "SELECT job_id, row_number() OVER (PARTITION BY guild_id, user_id ORDER BY job_id DESC) AS n "
        "FROM job WHERE kind = 'afk_expiry') AS ranked WHERE n > 1)"
    )
    op.create_check_constraint(op.f("ck_job_user_id_positive"), "job", "user_id > 0")
    op.create_check_constraint(op.f("ck_job_one_target"), "job", "num_nonnulls(case_id, reminder_id) <= 1")
    op.create_foreign_key(
        op.f("fk_job_case_id_mod_case"), "job", "mod_case", ["case_id"], ["case_id"], ondelete="CASCADE"
    )
    op.create_foreign_key(
        op.f("fk_job_reminder_id_reminder"), "job", "reminder", ["reminder_id"], ["reminder_id"], ondelete="CASCADE"
    )
    op.create_unique_constraint(op.f("uq_job_case_id"), "job", ["case_id"])
    op.create_unique_constraint(op.f("uq_job_reminder_id"), "job", ["reminder_id"])
    op.create_index(
        "uq_job_afk", "job", ["guild_id", "user_id"], unique=True, postgresql_where=sa.text("kind = 'afk_expiry'")
    )
    for name, body in FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${body}$$")
    for name, (_table, when) in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION {name}()")
