"""Snippet (and its alias rows) → snippet and snippet_name, in the one case-insensitive namespace per guild.

A guild's snippets resolve together (a batch never splits a guild), in
creation order (then legacy ID):

- a name guildbase does not allow (whitespace, ``@<>#``` or over 32
  characters) is made allowed: whitespace becomes ``-``, the other characters
  go, the name is cut to 32 (``snippet-<id>`` if nothing is left): adjusted;
- **collision rule**: two snippets whose names are equal ignoring letter case
  are **merged** when their contents are equal (one snippet, the uses added
  up) and otherwise the later one is **renamed** ``<name>-2`` (``-3``, …):
  reported either way. A name guildbase already has in the guild wins: the
  legacy snippet is counted as merged;
- an alias (a row with ``alias`` set) resolves to its target by exact name,
  else ignoring case (reported as adjusted), following aliases of aliases;
  an alias whose target does not exist is reported and skipped; an alias whose
  name is taken ignoring case is merged when it names the same snippet and
  skipped otherwise;
- content over 2000 characters is cut (the full text is in the report);
  a snippet without content is skipped; negative uses become 0.
"""

# ruff: noqa: S608 - table names come from the catalog (detect.py) and are quoted; values are bound or COPYed

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from guildbase.legacy.batch import DISCORD_EPOCH, Batch, snowflake, utc
from guildbase.legacy.detect import LegacySource
from guildbase.legacy.spec import ImportContext, TableSpec
from guildbase.models.snippets import CONTENT_MAX_LENGTH, NAME_MAX_LENGTH

__all__ = ["SNIPPETS", "allowed_name"]

_T = "Snippet"
_MAX_ALIAS_HOPS = 10


def allowed_name(name: str, fallback: str) -> str:
    """``name`` changed as little as possible to meet today's rule (see the module docstring)."""
    out = "-".join(name.split())
    out = "".join(c for c in out if c not in "@<>#`")[:NAME_MAX_LENGTH]
    return out or fallback


@dataclass
class _Own:
    key: int
    name: str
    content: str
    author_id: int
    created_at: datetime
    uses: int
    is_locked: bool
    aliases: list[str]


def _renamed(name: str, taken: set[str]) -> str:
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = name[: NAME_MAX_LENGTH - len(suffix)] + suffix
        if candidate.lower() not in taken:
            return candidate
        n += 1


class Snippets(TableSpec):
    name = "Snippet"
    reports = ("Snippet",)
    keys = ("guild_id", "snippet_id")
    group = 1

    def query(self, source: LegacySource) -> str:
        return (
            "SELECT snippet_id, snippet_name, snippet_content, snippet_user_id, snippet_created_at, guild_id, uses,"
            f" locked, alias FROM {source.tables['Snippet']}"
        )

    def map(self, row: asyncpg.Record, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        batch.count(_T).read += 1
        if snowflake(row["guild_id"]) is None:
            batch.skip(_T, row["snippet_id"], "its guild is not imported")
            return
        batch.extra.setdefault("rows", {}).setdefault(row["guild_id"], []).append(dict(row))

    def finish(self, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        for rows in batch.extra.get("rows", {}).values():
            _resolve(batch, rows, set())

    async def write(self, connection: asyncpg.Connection, batch: Batch, context: ImportContext) -> None:  # noqa: ARG002
        groups: dict[int, list[dict[str, Any]]] = batch.extra.get("rows", {})
        if not groups:
            return
        existing: dict[int, set[str]] = {}
        for r in await connection.fetch(
            "SELECT guild_id, lower(name) AS name FROM snippet_name WHERE guild_id = ANY($1::bigint[])", list(groups)
        ):
            existing.setdefault(r["guild_id"], set()).add(r["name"])
        owns = {g: _resolve(batch, rows, existing.get(g, set())) for g, rows in groups.items()}
        total = sum(len(o) for o in owns.values())
        if not total:
            return
        ids = [
            r[0]
            for r in await connection.fetch(
                "SELECT nextval(pg_get_serial_sequence('snippet', 'snippet_id')) FROM generate_series(1, $1)", total
            )
        ]
        snippets: list[tuple[Any, ...]] = []
        names: list[tuple[Any, ...]] = []
        for guild_id, own in owns.items():
            for snippet in own:
                snippet_id = ids[len(snippets)]
                snippets.append(
                    (
                        snippet_id,
                        guild_id,
                        snippet.content,
                        snippet.author_id,
                        snippet.uses,
                        snippet.is_locked,
                        snippet.created_at,
                        snippet.created_at,
                    )
                )
                names.append((guild_id, snippet_id, snippet.name, False))
                names.extend((guild_id, snippet_id, alias, True) for alias in snippet.aliases)
        columns = ["snippet_id", "guild_id", "content", "author_id", "uses", "is_locked", "created_at", "updated_at"]
        await connection.copy_records_to_table("snippet", records=snippets, columns=columns)
        await connection.copy_records_to_table(
            "snippet_name", records=names, columns=["guild_id", "snippet_id", "name", "is_alias"]
        )
        batch.count(_T).written += len(names)


def _resolve(batch: Batch, rows: list[dict[str, Any]], taken: set[str]) -> list[_Own]:  # noqa: C901, PLR0912, PLR0915
    """The guild's snippets to write, each with its aliases; every row not written is reported."""
    rows = sorted(rows, key=lambda r: (utc(r["snippet_created_at"]) or DISCORD_EPOCH, r["snippet_id"]))
    taken = set(taken)
    own: list[_Own] = []
    by_name: dict[str, _Own] = {}  # legacy names (exact) of the snippets kept or merged into
    by_lower: dict[str, _Own] = {}
    for row in (r for r in rows if r["alias"] is None):
        key, legacy_name, content = row["snippet_id"], row["snippet_name"], row["snippet_content"]
        author = snowflake(row["snippet_user_id"])
        if not content:
            batch.skip(_T, key, "snippet has no content")
            continue
        if author is None:
            batch.skip(_T, key, "author is not a Discord ID", {"snippet_user_id": row["snippet_user_id"]})
            continue
        name = allowed_name(legacy_name, f"snippet-{key}")
        if name != legacy_name:
            batch.adjust(_T, key, "name not allowed today: changed", {"snippet_name": legacy_name, "name": name})
        if len(content) > CONTENT_MAX_LENGTH:
            batch.adjust(
                _T,
                key,
                f"content longer than {CONTENT_MAX_LENGTH} characters: cut, full text here",
                {"snippet_content": content},
            )
            content = content[:CONTENT_MAX_LENGTH]
        earlier = by_lower.get(name.lower())
        if earlier is not None and earlier.content == content:
            earlier.uses += max(int(row["uses"] or 0), 0)
            by_name[legacy_name] = earlier
            batch.merge(
                _T,
                key,
                "same name ignoring case and same content: merged, uses added up",
                {"snippet_name": legacy_name, "into": earlier.name},
            )
            continue
        if name.lower() in taken and earlier is None:
            batch.merge(
                _T,
                key,
                "guildbase already has a snippet or command of this name: kept as it is",
                {"snippet_name": legacy_name},
            )
            continue
        if name.lower() in taken:
            renamed = _renamed(name, taken)
            batch.adjust(
                _T,
                key,
                "name collides with another ignoring case: renamed",
                {"snippet_name": legacy_name, "name": renamed},
            )
            name = renamed
        snippet = _Own(
            key,
            name,
            content,
            author,
            utc(row["snippet_created_at"]) or DISCORD_EPOCH,
            max(int(row["uses"] or 0), 0),
            bool(row["locked"]),
            [],
        )
        taken.add(name.lower())
        own.append(snippet)
        by_name[legacy_name] = snippet
        by_lower.setdefault(name.lower(), snippet)
        by_lower.setdefault(legacy_name.lower(), snippet)
    aliases = {r["snippet_name"]: r for r in rows if r["alias"] is not None}
    for legacy_name, row in aliases.items():
        key = row["snippet_id"]
        target, hops, hop = row["alias"], 0, row["alias"]
        resolved = by_name.get(hop)
        while resolved is None and hops < _MAX_ALIAS_HOPS:
            if hop in aliases:
                hop = aliases[hop]["alias"]
            elif hop.lower() in by_lower:
                resolved = by_lower[hop.lower()]
                batch.adjust(
                    _T, key, "alias target differs in letter case: resolved", {"alias": target, "to": resolved.name}
                )
                break
            else:
                break
            hops += 1
            resolved = by_name.get(hop)
        if resolved is None:
            batch.skip(_T, key, "alias target does not exist", {"snippet_name": legacy_name, "alias": target})
            continue
        name = allowed_name(legacy_name, f"alias-{key}")
        if name != legacy_name:
            batch.adjust(_T, key, "name not allowed today: changed", {"snippet_name": legacy_name, "name": name})
        if name.lower() in taken:
            if by_lower.get(name.lower()) is resolved:
                batch.merge(
                    _T, key, "alias repeats a name of its snippet ignoring case: merged", {"snippet_name": legacy_name}
                )
            else:
                batch.skip(
                    _T,
                    key,
                    "alias name taken by another snippet ignoring case",
                    {"snippet_name": legacy_name, "alias": target},
                )
            continue
        taken.add(name.lower())
        by_lower[name.lower()] = resolved
        resolved.aliases.append(name)
    return own


SNIPPETS = Snippets()
