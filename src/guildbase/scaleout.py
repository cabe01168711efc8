"""Distributing the schema by guild (Citus-style): which table goes where, what blocks it, and the plan.

A sharded PostgreSQL (Citus) splits a *distributed* table by one column,
here ``guild_id``, and keeps every row of one guild on one shard. Three
conditions make that work, and ``violations`` checks them on the models:

1. every primary key and unique constraint/index of a distributed table
   contains ``guild_id`` (uniqueness is enforced per shard);
2. ``guild_id`` is never NULL (a row must belong to a shard);
3. every foreign key between distributed tables includes ``guild_id``
   (co-location: parent and child rows live on the same shard), and a
   distributed table references only distributed or reference tables.

Tables without ``guild_id`` are listed by hand, each with its reason:
``REFERENCE_TABLES`` are small and shared by every guild (copied to every
node), ``LOCAL_TABLES`` stay on the coordinator. Every other table is
distributed and must pass ``violations`` (a test holds every one of them to
it, so a new table or key that breaks a condition fails). ``render`` writes
``docs/scale-out.md`` from all of it (``guildbase db scale-out-docs``).
"""

from sqlalchemy import Index, Table, UniqueConstraint

from guildbase.models import metadata

__all__ = [
    "GUILD_COLUMN",
    "LOCAL_TABLES",
    "NO_GUILD_ROWS",
    "REFERENCE_TABLES",
    "distributed_tables",
    "partitioned_tables",
    "render",
    "violations",
]

GUILD_COLUMN = "guild_id"

REFERENCE_TABLES: dict[str, str] = {
    "discord_user": "one row per Discord user, joined by every guild's members",
    "premium_tier": "the tier catalogue, read by every guild's premium checks",
    "premium_sku": "the SKU → tier map, small and global",
    "subscription": "owned by a guild or a user; read by every guild's premium checks",
    "premium_key": "redeemable codes, global until redeemed",
    "premium_trial": "one trial per owner (guild or user), global",
    "global_blacklist": "bot-wide bans, read by every guild",
    "bot_command": "the bot's command registry",
    "api_key": "dashboard keys spanning several guilds (guild_ids array)",
    "error_group": "errors grouped by fingerprint across guilds",
}
"""Small, global tables: ``create_reference_table`` copies them to every node."""

LOCAL_TABLES: dict[str, str] = {
    "oauth_token": "user secrets: kept on the coordinator, never copied to every node",
    "payment_transaction": "the billing ledger, written and read by the billing path only",
    "privacy_request": "per-user erasure and export requests, run by the coordinator",
    "command_log_dead_letter": "rows a process could not write, replayed by an operator",
    "error_group_daily": "daily counts of the global error groups",
    "runtime_metric_sample": "per-process metrics, not guild data",
    "job": "one queue claimed across guilds (unique kind + dedupe_key); its foreign key to guild is dropped",
    "legacy_import_checkpoint": "the import's progress per source table and batch, run from one process",
    "legacy_import_issue": "what an import could not keep, for the operator who ran it",
    "error_log": "samples of the global error groups, trimmed per group across guilds; the operator's diagnostics",
    "security_event": "the security trail, searched by user and IP across guilds; most rows (logins) have no guild",
}
"""Coordinator-only tables: neither distributed nor copied."""

NO_GUILD_ROWS: dict[str, str] = {
    "audit_log": (
        "global changes (the global blacklist, premium catalogue, privacy requests) are guild 0; their row is "
        "written in the transaction of the change it records, so it must live where a distributed table can write"
    ),
    "command_log": (
        "commands run in DMs are guild 0; the COPY writer maps None to 0, and the rollup counts them once, "
        "in the all-guilds rows (command_stat_daily guild 0 is ALL_GUILDS, a different table)"
    ),
    "reminder": (
        "DM reminders are guild 0; there is no guild row 0, so the foreign key to guild is gone: reminders.create "
        "locks the guild row (FOR KEY SHARE) and refuses an unknown guild, guilds.delete deletes its reminders"
    ),
}
"""Distributed tables whose rows may belong to no guild: ``guild_id`` is NOT NULL DEFAULT 0 (``db.types.GuildKeyType``).

Python keeps meaning ``None`` for "no guild" (a bound ``None`` is stored as 0,
a stored 0 is read as ``None``); raw SQL and ``COPY`` map it themselves.
Guild 0 is a shard of its own: its rows never join another guild's.
"""


def _columns(constraint: UniqueConstraint | Index) -> list[str]:
    return (
        [getattr(expression, "name", str(expression)) for expression in constraint.expressions]
        if isinstance(constraint, Index)
        else [column.name for column in constraint.columns]
    )


def distributed_tables() -> list[str]:
    """Tables to distribute by guild (every table with ``guild_id`` but the coordinator's), parents first."""
    return [
        table.name
        for table in metadata.sorted_tables
        if table.name not in REFERENCE_TABLES and table.name not in LOCAL_TABLES
    ]


def partitioned_tables() -> dict[str, str]:
    """Every range-partitioned table with its ``PARTITION BY`` clause."""
    found = {}
    for name, table in sorted(metadata.tables.items()):
        clause = table.dialect_options["postgresql"].get("partition_by")
        if clause:
            found[name] = str(clause)
    return found


def violations(table: Table) -> list[str]:
    """What keeps ``table`` from being distributed by ``guild_id`` with its parents (empty: nothing)."""
    if GUILD_COLUMN not in table.c:
        return [f"no {GUILD_COLUMN} column"]
    found = []
    if table.c[GUILD_COLUMN].nullable:
        found.append(f"{GUILD_COLUMN} is nullable")
    primary = [column.name for column in table.primary_key.columns]
    if GUILD_COLUMN not in primary:
        found.append(f"primary key ({', '.join(primary)}) lacks {GUILD_COLUMN}")
    keys: list[UniqueConstraint | Index] = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    keys += [index for index in table.indexes if index.unique]
    for key in sorted(keys, key=lambda key: str(key.name)):
        columns = _columns(key)
        if GUILD_COLUMN not in columns:
            found.append(f"unique {key.name} ({', '.join(columns)}) lacks {GUILD_COLUMN}")
    for foreign_key in table.foreign_key_constraints:
        parent = foreign_key.referred_table.name
        columns = [column.name for column in foreign_key.columns]
        if parent in REFERENCE_TABLES:
            continue
        if parent in LOCAL_TABLES:
            found.append(f"foreign key ({', '.join(columns)}) references the coordinator table {parent}")
        elif GUILD_COLUMN not in columns:
            found.append(f"foreign key ({', '.join(columns)}) to {parent} lacks {GUILD_COLUMN}")
    return found


def _sql_section() -> list[str]:
    lines = ["```sql", "-- reference tables: copied to every node"]
    lines += [f"SELECT create_reference_table('{name}');" for name in sorted(REFERENCE_TABLES)]
    lines += ["", "-- distributed by guild, all co-located with guild (parents first)"]
    for name in distributed_tables():
        colocate = "" if name == "guild" else ", colocate_with => 'guild'"
        lines.append(f"SELECT create_distributed_table('{name}', '{GUILD_COLUMN}'{colocate});")
    lines += ["```", ""]
    return lines


def _table_lines() -> list[str]:
    lines = ["| table | placement | why / what it needs first |", "|---|---|---|"]
    for name in sorted(metadata.tables):
        if name in REFERENCE_TABLES:
            lines.append(f"| `{name}` | reference | {REFERENCE_TABLES[name]} |")
        elif name in LOCAL_TABLES:
            lines.append(f"| `{name}` | coordinator | {LOCAL_TABLES[name]} |")
        elif name in NO_GUILD_ROWS:
            lines.append(f"| `{name}` | distributed | ready; rows of no guild are guild 0 (below) |")
        else:
            lines.append(f"| `{name}` | distributed | ready: keys and foreign keys contain {GUILD_COLUMN} |")
    return [*lines, ""]


_KEYS = """## Keys of guild tables

A guild table with an identity of its own (a case, a ticket, a poll option) has
the primary key `(<id>, guild_id)`: with `guild_id` in it, each shard can enforce
it, and with the id first its index still serves every lookup by id, so no
index is added. The models keep the ORM identity on the id alone
(`__mapper_args__ = orm_identity("<id>")`, `guildbase.db.types`), so `session.get(Model, id)`,
`Model.get` and the controllers are unchanged, and the id stays a
database-generated identity. Foreign keys between guild tables are
`(guild_id, <id>)`: PostgreSQL takes the `(<id>, guild_id)` primary key as their
target, since a foreign key matches a unique key's columns in any order, so no
second unique key is kept for them. Unique keys contain `guild_id` too (one
ticket per channel of a guild, one option per position of a poll); a lookup by
a Discord ID alone (the ticket of a channel) keeps a plain index, which a
sharded cluster answers by asking every shard.

"""

_REPLICAS = """## Read replicas

`GUILDBASE_REPLICA_URLS` lists streaming replicas. `db.read_session()` (the
controllers' reports, leaderboards, stats and history reads) goes to one in
turn, after one probe on the connection that serves the read
(`guildbase.db.replicas`):

- **read-your-writes by LSN**: after this process commits, the first replica
  read takes the writer's `pg_current_wal_insert_lsn()`; a replica serves the
  read only once `pg_last_wal_replay_lsn()` reached it, waiting up to
  `GUILDBASE_REPLICA_WAIT_MS` (50 ms), else the writer answers. Writes of other
  processes are seen within the lag bound;
- **lag bound**: a replica whose replay is more than
  `GUILDBASE_REPLICA_MAX_LAG_SECONDS` (5 s) behind is skipped;
- **down replicas** are skipped, with one warning, for
  `GUILDBASE_REPLICA_RETRY_SECONDS` (5 s), then tried again and taken back
  when they answer; a server that is not in recovery is never read from.

Tested on a real primary and `pg_basebackup -R -X stream` replica
(`tests/scaleout/test_replica_reads.py`).

"""

_SEQUENCES = """## Sequences and counters

- Identity keys stay `bigint GENERATED … AS IDENTITY`. On a sharded cluster each
  node hands out values from its own range, so ids stay unique cluster-wide but
  are not ordered across guilds: nothing in guildbase orders by an id across
  guilds, and per-guild keyset pages order within one guild.
- Per-guild numbers (cases, notes, tickets) come from `guild_counter`
  (`db.numbering`: one `INSERT … ON CONFLICT DO UPDATE … RETURNING` together with
  the numbered row). The counter row carries `guild_id`, so the statement runs on
  one shard and stays gap-free and concurrency-safe unchanged.
- Counters updated in one statement (XP, stars, daily stats) are rows keyed by
  `guild_id`: single-shard statements, unchanged. Bot-wide totals are sums over
  shards (a fan-out read), never a shared counter row.
- Partitions are created and dropped by the coordinator (`db.partitions`,
  `partition_ensure`); a partitioned table is distributed with its partitions.

"""


def render() -> str:
    """``docs/scale-out.md``: placements, the calls, partitioned tables, replicas, sequences."""
    lines = [
        "# Scale-out",
        "",
        "Generated by `guildbase db scale-out-docs` from the models (`guildbase.scaleout`); do not edit by hand.",
        "",
        "## Distributing by guild",
        "",
        "Every guild table is meant to be distributed by `guild_id` and co-located with `guild`; the small",
        "global tables are reference tables. `tests/scaleout/test_colocation.py` checks each table's keys and",
        "foreign keys against this plan.",
        "",
        *_table_lines(),
        _KEYS.rstrip(),
        "",
        "## Rows of no guild",
        "",
        "A distributed row needs its `guild_id`: where a row may belong to no guild (a DM, a global change),",
        "`guild_id` is `NOT NULL DEFAULT 0` and guild 0 is a shard of its own. Python still says `None`",
        "(`db.types.GuildKeyType` stores `None` as 0 and reads 0 back as `None`; raw SQL uses",
        "`NULLIF(guild_id, 0)`). Migration 0027.",
        "",
        "| table | rows of no guild |",
        "|---|---|",
        *[f"| `{name}` | {reason} |" for name, reason in sorted(NO_GUILD_ROWS.items())],
        "",
        "## The calls",
        "",
        "Run once the tables marked *after a fix* are fixed (they fail `create_distributed_table` until then):",
        "",
        *_sql_section(),
        "## Partitioned tables",
        "",
        "One UTC month per partition (`<table>_pYYYYMM`), created ahead and dropped past retention by",
        "`db.partitions.maintain` (`guildbase db partitions` lists them):",
        "",
        "| table | partitioned by |",
        "|---|---|",
        *[f"| `{name}` | `{clause}` |" for name, clause in partitioned_tables().items()],
        "",
        _REPLICAS + _SEQUENCES.rstrip(),
        "",
    ]
    return "\n".join(lines)
