"""W10 (BENCHMARKS.md): the permission check on a cache hit, and the check log's writes.

Part one: a guild with 10 named ranks, 10 ranked roles, ranks on commands and
modules, and 200 rules over members, roles, channels, categories and the
guild default on commands, modules, a feature and "all". Each operation is
one check of one of 64 contexts (user, roles, channel, category) and one of
40 commands.

- ``guildbase``: ``db.permissions.check`` on a cache hit, the check log on
  (every check logged, the default): validation, the precedence walk over the
  compiled set, the row handed to the log's buffer;
- ``guildbase_explain``: the same walk without logging (``explain``);
- ``sql_per_check``: the limit of not caching: one prepared query per check
  returning the rules that match the context (subject, target, expiry) and
  the guild's ranks, evaluated by the same ``decide``;

Part two (``W10 log``): 1,000 check rows per operation into ``permission_check``
through the buffered writer (``guildbase_writer``: rows offered, then a timed
flush; ``guildbase_checks``: 1,000 denied ``check`` calls end to end, then the
flush) against one binary COPY of 1,000 prebuilt rows (``limit``).
"""

import json
import random
from datetime import UTC, datetime
from typing import Any

from bench.harness import Env, Runner, Variant, environment
from bench.workloads import G0, U0, Scale, summarize
from guildbase.controllers.permission_eval import CompiledPermissions, decide, rank_keys, target_keys
from guildbase.controllers.permission_log import CHECK_COLUMNS
from guildbase.models.permissions import PermissionRuleRead, PermissionSetRead

GUILD = G0 + 10
ROLE0 = G0 + 10_000
CHANNEL0 = G0 + 20_000
CATEGORY0 = G0 + 30_000
MODULES = ("Moderation", "Levels", "Config", "Fun")
COMMANDS = {f"cmd{i}": MODULES[i % len(MODULES)] for i in range(36)} | {
    "mod": "Moderation",
    "mod ban": "Moderation",
    "mod kick": "Moderation",
    "mod warn": "Moderation",
}
CONTEXTS = 64
SLICE = 1000

_SQL = """
SELECT
  (SELECT coalesce(json_agg(json_build_object(
      'rule_id', r.rule_id, 'guild_id', r.guild_id, 'subject_kind', r.subject_kind, 'subject_id', r.subject_id,
      'target_kind', r.target_kind, 'target_name', r.target_name, 'effect', r.effect,
      'is_whitelist', r.is_whitelist, 'expires_at', r.expires_at)), '[]')
   FROM permission_rule AS r
   WHERE r.guild_id = $1
     AND (r.expires_at IS NULL OR r.expires_at > now())
     AND (r.target_kind::text || ':' || r.target_name) = ANY($2::text[])
     AND (r.is_whitelist
          OR (r.subject_kind = 'member' AND r.subject_id = $3)
          OR (r.subject_kind = 'channel' AND r.subject_id = ANY($4::bigint[]))
          OR (r.subject_kind = 'category' AND r.subject_id = $5)
          OR (r.subject_kind = 'role' AND r.subject_id = ANY($6::bigint[]))
          OR r.subject_kind = 'guild')) AS rules,
  (SELECT coalesce(json_object_agg(role_id, rank), '{}') FROM permission_role_rank
   WHERE guild_id = $1 AND role_id = ANY($6::bigint[])) AS role_ranks,
  (SELECT coalesce(json_object_agg(kind::text || ':' || name, rank), '{}') FROM permission_command_rank
   WHERE guild_id = $1 AND (kind::text || ':' || name) = ANY($7::text[])) AS command_ranks,
  (SELECT is_unconfigured_allowed FROM permission_config WHERE guild_id = $1) AS is_allowed
"""


def _context(index: int) -> dict[str, Any]:
    spot = random.Random(index % CONTEXTS)
    roles = sorted(spot.sample(range(10), spot.randint(0, 4)), reverse=True)
    command = list(COMMANDS)[index % len(COMMANDS)]
    return {
        "user_id": U0 + index % CONTEXTS,
        "role_ids": tuple(ROLE0 + r for r in roles),
        "channel_id": CHANNEL0 + spot.randrange(8),
        "category_id": CATEGORY0 + spot.randrange(3),
        "command": command,
        "module": COMMANDS[command],
    }


async def _seed(env: Env) -> None:
    db = env.db
    await db.guilds.join(GUILD)
    await db.permissions.register_commands(COMMANDS)
    pick = random.Random(10)
    for rank in range(10):
        await db.permissions.set_rank_name(GUILD, rank + 1, f"rank {rank + 1}")
    await db.permissions.set_role_ranks(GUILD, {ROLE0 + r: r + 1 for r in range(10)})
    for name in ("mod", "cmd1", "cmd2", "cmd3"):
        await db.permissions.set_command_rank(GUILD, "command", name, pick.randint(1, 9))
    await db.permissions.set_command_rank(GUILD, "module", "Moderation", 5)
    subjects = [("member", U0 + u) for u in range(CONTEXTS)] + [("role", ROLE0 + r) for r in range(10)]
    subjects += [("channel", CHANNEL0 + c) for c in range(8)] + [("category", CATEGORY0 + c) for c in range(3)]
    targets: list[tuple[str, str | None]] = [("feature", "levels"), ("all", None)]
    targets += [("command", name) for name in COMMANDS] + [("module", m) for m in MODULES]
    seen: set[tuple[Any, ...]] = set()
    while len(seen) < 200:
        kind, subject = pick.choice(subjects) if len(seen) % 20 else ("guild", None)
        target_kind, target_name = pick.choice(targets)
        if (kind, subject, target_kind, target_name) in seen:
            continue
        seen.add((kind, subject, target_kind, target_name))
        await db.permissions.add_rule(
            GUILD, kind, subject, target_kind, target_name, effect=pick.choice(["allow", "deny", "deny"])
        )


async def w10(scale: Scale, rounds: int) -> dict[str, Any]:
    checks = scale.pick(2_000, 50_000)
    async with environment() as env:
        await _seed(env)
        permissions = env.db.permissions
        contexts = [_context(i) for i in range(CONTEXTS * len(COMMANDS))]
        keys = [(target_keys(c["command"], c["module"], None), rank_keys(c["command"], c["module"])) for c in contexts]

        async def drain() -> None:
            await permissions.flush()

        async def ours(index: int) -> None:
            use = contexts[index % len(contexts)]
            await permissions.check(GUILD, **use)

        async def explained(index: int) -> None:
            use = contexts[index % len(contexts)]
            await permissions.explain(GUILD, **use)

        async def per_query(index: int) -> None:
            use = contexts[index % len(contexts)]
            targets, ranks = keys[index % len(contexts)]
            async with env.limit.acquire() as connection:
                row = await connection.fetchrow(
                    _SQL,
                    GUILD,
                    list(targets),
                    use["user_id"],
                    [use["channel_id"]],
                    use["category_id"],
                    list(use["role_ids"]),
                    list(ranks),
                )
            source = PermissionSetRead(
                guild_id=GUILD,
                is_unconfigured_allowed=True if row["is_allowed"] is None else row["is_allowed"],
                role_ranks={int(k): v for k, v in json.loads(row["role_ranks"]).items()},
                command_ranks=json.loads(row["command_ranks"]),
                rules=[PermissionRuleRead.model_validate(r) for r in json.loads(row["rules"])],
            )
            compiled = CompiledPermissions(source, datetime.now(UTC).timestamp())
            decide(
                compiled,
                use["user_id"],
                use["role_ids"],
                use["channel_id"],
                None,
                use["category_id"],
                None,
                targets,
                ranks,
            )

        mismatches = 0
        for index in range(len(contexts)):  # the limit answers like the cache, or the ratio means nothing
            use = contexts[index]
            cached = await permissions.explain(GUILD, **use)
            targets, ranks = keys[index]
            async with env.limit.acquire() as connection:
                row = await connection.fetchrow(
                    _SQL, GUILD, list(targets), use["user_id"], [use["channel_id"]], use["category_id"],
                    list(use["role_ids"]), list(ranks),
                )  # fmt: skip
            source = PermissionSetRead(
                guild_id=GUILD,
                role_ranks={int(k): v for k, v in json.loads(row["role_ranks"]).items()},
                command_ranks=json.loads(row["command_ranks"]),
                rules=[PermissionRuleRead.model_validate(r) for r in json.loads(row["rules"])],
            )
            compiled = CompiledPermissions(source, datetime.now(UTC).timestamp())
            fetched = decide(
                compiled,
                use["user_id"],
                use["role_ids"],
                use["channel_id"],
                None,
                use["category_id"],
                None,
                targets,
                ranks,
            )
            mismatches += (fetched.allowed, fetched.decided_by) != (cached.allowed, cached.decided_by)

        hit = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase", ours, checks, 1, before_round=drain),
                Variant("guildbase_explain", explained, checks, 1),
                Variant("limit", per_query, scale.pick(500, 5_000), 1),
            ]
        )
        summary = summarize(hit)
        log = await _log_writes(env, scale, rounds)
        return {
            "variants": summary | {f"log_{name}": value for name, value in log.items()},
            "checks": {
                "rules": 200,
                "ranked_roles": 10,
                "decisions_differing_from_sql": mismatches,
                "guildbase_hit_ratio_to_sql": summary["guildbase"]["ratio_to_limit"],
                "log_rows_lost_after_close": await _lost_after_close(env),
            },
            "notes": "part one: one check per op, one task; guildbase logs every check (buffered; batches are written "
            "in the background during the round, the rest before the next round, untimed: part two times the log); limit = one prepared query per check (matching rules, role and command ranks) "
            "evaluated by the same decide(). Part two (log_*): ops are slices of 1,000 rows, rates in rows/s; "
            "log_limit = one binary COPY of 1,000 prebuilt rows",
        }


LIMIT_CHANNEL = CHANNEL0 + 999
"""The limit's COPY rows carry this channel, so rows lost by the writer can be counted apart from them."""


def _row(index: int, channel: int = CHANNEL0) -> tuple[Any, ...]:
    return (datetime.now(UTC), GUILD, U0 + index % 5000, channel, "cmd1", index % 3 != 0, "rule", index, None, None)


async def _log_writes(env: Env, scale: Scale, rounds: int) -> dict[str, Any]:
    permissions = env.db.permissions
    writer = permissions.check_writer
    denied: dict[str, Any] = {
        "user_id": U0 + 9999,
        "role_ids": (),
        "channel_id": CHANNEL0,
        "command": "cmd1",
        "module": "Levels",
    }
    await permissions.add_rule(GUILD, "member", denied["user_id"], "all", None, effect="deny")

    async def offered(index: int) -> None:
        for i in range(index * SLICE, (index + 1) * SLICE):
            row = _row(i)
            if not writer.offer(row):
                await writer.put(row)

    async def checked(_index: int) -> None:
        for _ in range(SLICE):
            await permissions.check(GUILD, **denied)

    async def copied(index: int) -> None:
        batch = [_row(i, LIMIT_CHANNEL) for i in range(index * SLICE, (index + 1) * SLICE)]
        async with env.limit.acquire() as connection:
            await connection.copy_records_to_table("permission_check", records=batch, columns=CHECK_COLUMNS)

    slices = scale.pick(10, 100)
    results = await Runner(env, rounds=rounds).compare(
        [
            Variant("guildbase_writer", offered, slices, 1, finish=permissions.flush),
            Variant("guildbase_checks", checked, slices, 1, finish=permissions.flush),
            Variant("limit", copied, slices, 1),
        ]
    )
    summary = summarize(results)
    for entry in summary.values():
        for k in ("median", "min", "max"):
            entry[k] *= SLICE
        entry["rounds"] = [r * SLICE for r in entry["rounds"]]
    return summary


async def _lost_after_close(env: Env) -> int:
    """Checks accepted by the writer minus rows stored once the facade is closed (must be 0)."""
    accepted = env.db.permissions.check_writer.accepted
    await env.db.close()
    stored = await env.fetchval("SELECT count(*) FROM permission_check WHERE channel_id <> $1", LIMIT_CHANNEL)
    return int(accepted - stored)
