"""Distributable by guild: every table's keys and foreign keys against the plan of ``guildbase.scaleout``.

Citus cannot be installed here, so the conditions it needs are checked on the
models, which ``guildbase db check`` keeps equal to the migrated schema.
"""

from pathlib import Path

import pytest
from sqlalchemy import BigInteger, Column, ForeignKeyConstraint, Integer, MetaData, PrimaryKeyConstraint, Table
from sqlalchemy import UniqueConstraint as Unique
from sqlalchemy.sql.schema import SchemaItem

from guildbase.models import metadata
from guildbase.scaleout import (
    GUILD_COLUMN,
    LOCAL_TABLES,
    REFERENCE_TABLES,
    distributed_tables,
    partitioned_tables,
    render,
    violations,
)

DISTRIBUTED = distributed_tables()


def test_every_table_has_exactly_one_placement() -> None:
    placements = [set(DISTRIBUTED), set(REFERENCE_TABLES), set(LOCAL_TABLES)]
    assert set().union(*placements) == set(metadata.tables)
    assert sum(len(placement) for placement in placements) == len(metadata.tables)
    assert "guild" in DISTRIBUTED
    assert {"discord_user", "premium_tier", "premium_sku"} <= set(REFERENCE_TABLES)


def test_tables_without_guild_id_are_reference_or_coordinator_tables() -> None:
    for name, table in metadata.tables.items():
        if GUILD_COLUMN not in table.c:
            assert name in REFERENCE_TABLES or name in LOCAL_TABLES, name


@pytest.mark.parametrize("name", DISTRIBUTED)
def test_a_distributed_table_keeps_guild_id_in_every_key_and_foreign_key(name: str) -> None:
    assert violations(metadata.tables[name]) == []


def test_reference_tables_reference_only_reference_tables() -> None:
    for name in REFERENCE_TABLES:
        parents = {fk.referred_table.name for fk in metadata.tables[name].foreign_key_constraints}
        assert parents <= set(REFERENCE_TABLES), name


def test_no_distributed_table_references_a_coordinator_table() -> None:
    for name in DISTRIBUTED:
        parents = {fk.referred_table.name for fk in metadata.tables[name].foreign_key_constraints}
        assert not parents & set(LOCAL_TABLES), name


def _toy(*constraints: SchemaItem, nullable: bool = False) -> Table:
    toy = MetaData()
    Table(
        "parent", toy, Column("guild_id", BigInteger, primary_key=True), Column("parent_id", Integer, primary_key=True)
    )
    columns = [
        Column("guild_id", BigInteger, nullable=nullable),
        Column("row_id", Integer),
        Column("parent_id", Integer),
    ]
    return Table("child", toy, *columns, *constraints)


def test_the_check_finds_each_kind_of_violation() -> None:
    good = _toy(
        PrimaryKeyConstraint("guild_id", "row_id"),
        ForeignKeyConstraint(["guild_id", "parent_id"], ["parent.guild_id", "parent.parent_id"]),
    )
    assert violations(good) == []
    assert violations(_toy(PrimaryKeyConstraint("row_id"))) == ["primary key (row_id) lacks guild_id"]
    unique = _toy(PrimaryKeyConstraint("guild_id", "row_id"), Unique("parent_id", name="uq_child_parent"))
    assert violations(unique) == ["unique uq_child_parent (parent_id) lacks guild_id"]
    split = _toy(PrimaryKeyConstraint("guild_id", "row_id"), ForeignKeyConstraint(["parent_id"], ["parent.parent_id"]))
    assert violations(split) == ["foreign key (parent_id) to parent lacks guild_id"]
    assert violations(_toy(PrimaryKeyConstraint("guild_id", "row_id"), nullable=True)) == ["guild_id is nullable"]


def test_every_partitioned_table_is_in_the_plan() -> None:
    partitioned = partitioned_tables()
    assert {"command_log", "guild_event", "permission_check"} <= set(partitioned)
    rendered = render()
    for name, clause in partitioned.items():
        assert f"| `{name}` | `{clause}` |" in rendered


def test_scale_out_docs_are_generated_from_the_current_models(project_root: Path) -> None:
    rendered = render()
    assert "SELECT create_distributed_table('guild', 'guild_id');" in rendered
    assert "SELECT create_reference_table('discord_user');" in rendered
    assert "colocate_with => 'guild'" in rendered
    committed = (project_root / "docs" / "scale-out.md").read_text()
    assert committed == rendered, "docs/scale-out.md is stale: run `uv run guildbase db scale-out-docs`"
