"""Every table that holds a user ID declares its erase policy (R10.2), and a new one cannot slip past.

"Holds a user ID" is decided by ``policy.user_id_columns`` (every BIGINT,
BIGINT[] and JSONB column except identity columns, plain counters and the IDs
of guilds, channels, roles and messages); the test runs over the whole
metadata, so tables added by later issues are held to it too.
"""

import pytest
from sqlalchemy import BigInteger, Column, Identity, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from guildbase.db.types import SnowflakeType
from guildbase.models import metadata
from guildbase.privacy.policy import (
    ColumnShape,
    Erase,
    keep,
    personal_data,
    policies,
    unaccounted,
    user_id_columns,
)


def test_every_table_with_a_user_id_column_has_a_policy_for_every_such_column() -> None:
    assert unaccounted(metadata) == []
    assert {policy.table for policy in policies()} <= set(metadata.tables)


def _throwaway(*columns: Column[object]) -> Table:
    return Table("throwaway_feature", MetaData(), Column("row_id", BigInteger, Identity(), primary_key=True), *columns)


def test_a_table_added_without_a_policy_fails_the_check() -> None:
    table = _throwaway(
        Column("guild_id", SnowflakeType, nullable=False),
        Column("owner_id", SnowflakeType, nullable=False),
        Column("score", BigInteger, nullable=False),
    )
    assert unaccounted(table.metadata) == ["throwaway_feature: no personal_data() policy for owner_id"]
    personal_data(table, "A throwaway feature.", retention="never", owner_id=Erase.DELETE)
    assert unaccounted(table.metadata) == []


def test_a_column_added_to_a_declared_table_fails_until_declared() -> None:
    table = _throwaway(Column("owner_id", SnowflakeType), Column("extra", JSONB), Column("helpers", ARRAY(BigInteger)))
    personal_data(table, "A throwaway feature.", retention="never", owner_id=Erase.DELETE)
    assert unaccounted(table.metadata) == ["throwaway_feature: extra, helpers neither declared nor in not_user"]
    personal_data(
        table,
        "A throwaway feature.",
        retention="never",
        not_user={"extra": "settings, never an ID"},
        owner_id=Erase.DELETE,
        helpers=Erase.NULL,
    )
    assert unaccounted(table.metadata) == []


def test_the_rule_says_which_columns_may_hold_a_user_id() -> None:
    table = _throwaway(
        Column("guild_id", SnowflakeType),
        Column("log_channel_id", SnowflakeType),
        Column("ignored_channel_ids", ARRAY(BigInteger)),
        Column("role_ids", ARRAY(BigInteger)),
        Column("mod_log_message_id", SnowflakeType),
        Column("xp", BigInteger),  # a counter
        Column("uses", Integer),
        Column("note", Text),  # text is declared by choice, never required
        Column("target_id", SnowflakeType),
        Column("legacy_user_id", BigInteger),  # a plain BIGINT named like an ID
        Column("approved_by", BigInteger),
        Column("member_ids", ARRAY(BigInteger)),
        Column("details", JSONB),
    )
    assert user_id_columns(table) == {
        "target_id": ColumnShape.BIGINT,
        "legacy_user_id": ColumnShape.BIGINT,
        "approved_by": ColumnShape.BIGINT,
        "member_ids": ColumnShape.ARRAY,
        "details": ColumnShape.JSONB,
    }


def test_a_declaration_with_a_typo_or_a_kept_id_without_reason_is_refused_at_import() -> None:
    table = _throwaway(Column("owner_id", SnowflakeType))
    with pytest.raises(ValueError, match="no BIGINT, BIGINT\\[\\], JSONB or text column 'ownr_id'"):
        personal_data(table, "x", retention="x", ownr_id=Erase.DELETE)
    with pytest.raises(ValueError, match="keep\\('<legal reason>'\\)"):
        personal_data(table, "x", retention="x", owner_id=Erase.KEEP)
    with pytest.raises(ValueError, match="legal reason"):
        keep(" ")
    with pytest.raises(ValueError, match="keep_rows and keep_reason"):
        personal_data(table, "x", retention="x", keep_rows="true", owner_id=Erase.DELETE)


def test_every_kept_id_states_its_legal_reason() -> None:
    kept = [(p.table, c.column, c.reason) for p in policies() for c in p.columns if c.erase is Erase.KEEP]
    assert {(table, column) for table, column, _ in kept} == {
        ("global_blacklist", "target_id"),
        ("mod_case", "user_id"),
        ("privacy_request", "user_id"),
        ("privacy_request", "requested_by"),
        ("security_event", "user_id"),
        ("security_event", "detail"),
        ("subscription", "owner_id"),
        ("payment_transaction", "owner_id"),
        ("premium_trial", "owner_id"),
    }
    assert all(reason and "Art." in reason for _, column, reason in kept if column != "requested_by")
