"""Permissions (R3.3, R4.5, R22): access rules, the check before every command, and its explanation.

``check`` is on every command's path, so a guild's whole configuration is one
cached ``PermissionSetRead`` (local LRU → Redis → PostgreSQL), compiled once
per process into ``CompiledPermissions`` and mirrored by guild ID: a hit is
a dict lookup, the precedence walk (``permission_eval.decide``) and a row
handed to the check log's buffer, with no SQL. Every write drops the key
after its commit, and the invalidation channel (``services.cache``) drops
the compiled copy in every other process.

Ranks live in ``permission_ranks`` and the check log in ``permission_log``;
this class inherits both, so ``db.permissions`` is one face.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from time import monotonic, time
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from guildbase.controllers.base import UnitOfWork
from guildbase.controllers.permission_eval import CompiledPermissions, Decision, decide, rank_keys, target_keys
from guildbase.controllers.permission_ranks import PermissionRanks
from guildbase.controllers.permission_store import known_target, permissions_key, read_set
from guildbase.db.audit import record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.rows import read_all
from guildbase.db.types import utcnow
from guildbase.db.validation import (
    BIGINT_MAX,
    flag,
    optional_aware,
    optional_snowflake,
    optional_text,
    positive,
    snowflake,
    snowflakes,
    text,
    validate_enum,
)
from guildbase.errors import ConflictError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import Feature
from guildbase.models.permissions import (
    ALL_TARGET,
    MAX_RULES_PER_GUILD,
    REASON_MAX_LENGTH,
    TARGET_NAME_MAX_LENGTH,
    BotCommand,
    Effect,
    PermissionRule,
    PermissionRuleRead,
    PermissionSetRead,
    SubjectKind,
    TargetKind,
)

__all__ = ["MAX_COMMANDS", "MAX_ROLES", "PermissionController", "permissions_key"]

MAX_ROLES = 250
MAX_COMMANDS = 5000
_CONTEXTS_KEPT = 10_000
_RULE_FIELDS = (
    "subject_kind",
    "subject_id",
    "target_kind",
    "target_name",
    "effect",
    "is_whitelist",
    "expires_at",
    "reason",
    "author_id",
)


class _CompiledCodec:
    """Redis holds the ``PermissionSetRead`` JSON; each process compiles what it reads."""

    def encode(self, value: CompiledPermissions) -> str:
        return value.source.model_dump_json()

    def decode(self, raw: str) -> CompiledPermissions:
        return CompiledPermissions(PermissionSetRead.model_validate_json(raw), time())


_CODEC = _CompiledCodec()


def _is_id(value: object) -> bool:
    return type(value) is int and 0 < value <= BIGINT_MAX


def _is_optional_id(value: object) -> bool:
    return value is None or (type(value) is int and 0 < value <= BIGINT_MAX)


class PermissionController(PermissionRanks):
    """Rules, ranks and the check; see the module docstring and ``docs/permissions.md``."""

    def __init__(self, db: UnitOfWork) -> None:
        super().__init__(db)
        self._hot: dict[int, tuple[float, CompiledPermissions]] = {}
        self._contexts: dict[tuple[Any, Any, Any], tuple[tuple[str, ...], tuple[str, ...]]] = {}

    # -- the command tree --------------------------------------------------------------------
    async def register_commands(self, commands: Mapping[str, str | None]) -> int:
        """Record the bot's commands (qualified name → cog name or None); returns how many.

        The bot calls this at startup with its whole tree, so rules and ranks
        on an unknown command are refused in every process (scripts too).
        Names are only ever added or updated: another bot build's commands stay.
        """
        if not isinstance(commands, Mapping):
            raise ValidationError.single("commands", "mapping", "must map command names to their module")
        if len(commands) > MAX_COMMANDS:
            msg = f"must hold at most {MAX_COMMANDS} commands, got {len(commands)}"
            raise ValidationError.single("commands", "max_items", msg)
        rows = [
            {
                "name": text("commands", name, min_length=1, max_length=TARGET_NAME_MAX_LENGTH),
                "module": optional_text(f"commands.{name}", module, max_length=TARGET_NAME_MAX_LENGTH),
            }
            for name, module in commands.items()
        ]
        if not rows:
            return 0
        stmt = insert(BotCommand).values(rows)
        upsert = stmt.on_conflict_do_update(
            index_elements=["name"], set_={"module": stmt.excluded.module, "registered_at": func.now()}
        )
        async with self._write() as session:
            await session.execute(upsert)
        return len(rows)

    async def known_commands(self) -> dict[str, str | None]:
        """Every registered command name → its module."""
        async with self._write() as session:
            rows = await session.execute(select(col(BotCommand.name), col(BotCommand.module)).order_by(BotCommand.name))
            return dict(rows.all())

    # -- reading ------------------------------------------------------------------------------
    async def get(self, guild_id: int) -> PermissionSetRead:
        """The guild's ranks, mappings, default and every stored rule (expired ones until the job removes them)."""
        return (await self._compiled(snowflake("guild_id", guild_id))).source

    async def rules(self, guild_id: int) -> list[PermissionRuleRead]:
        """The rules that apply now, oldest first."""
        compiled = await self._compiled(snowflake("guild_id", guild_id))
        compiled.refresh(time())
        return compiled.live_rules()

    async def _compiled(self, guild_id: int) -> CompiledPermissions:
        hot = self._hot.get(guild_id)
        if hot is not None and hot[0] > monotonic():
            return hot[1]

        async def load() -> CompiledPermissions:
            async with self._db.session() as session:
                return CompiledPermissions(await read_set(session, guild_id), time())

        key = permissions_key(guild_id)
        cache = self._db.cache
        compiled = await cache.read_through(key, load, ttl=self._db.settings.cache_ttl_seconds, codec=_CODEC)
        assert compiled is not None  # noqa: S101 - the loader always returns a set
        cache.local.mirror(key, self._hot, guild_id)
        return compiled

    # -- rules ------------------------------------------------------------------------------------
    async def add_rule(
        self,
        guild_id: int,
        subject_kind: SubjectKind | str,
        subject_id: int | None,
        target_kind: TargetKind | str,
        target_name: str | None,
        *,
        effect: Effect | str,
        is_whitelist: bool = False,
        expires_at: datetime | None = None,
        reason: str | None = None,
        author_id: int | None = None,
    ) -> PermissionRuleRead:
        """Allow or deny ``target`` for ``subject``; the same subject and target again replaces that rule.

        ``subject_id`` is None for the guild default; ``target_name`` is None
        for "all". ``is_whitelist`` (allow only) lists the subject on the
        target's whitelist of its kind. Refused by name: an unknown command or
        module, an expiry not in the future, a whitelist deny.
        """
        guild_id = snowflake("guild_id", guild_id)
        subject = validate_enum("subject_kind", SubjectKind, subject_kind)
        who = optional_snowflake("subject_id", subject_id)
        if subject is SubjectKind.GUILD:
            if who not in {None, guild_id}:
                raise ValidationError.single("subject_id", "guild", "must be empty (or the guild ID) for the default")
            who = guild_id
        elif who is None:
            raise ValidationError.single("subject_id", "required", f"must name the {subject} the rule is about")
        target = validate_enum("target_kind", TargetKind, target_kind)
        if target is TargetKind.ALL:
            if target_name not in {None, ALL_TARGET}:
                raise ValidationError.single("target_name", "all", "must be empty for a rule on everything")
            name = ALL_TARGET
        else:
            name = text("target_name", target_name, min_length=1, max_length=TARGET_NAME_MAX_LENGTH)
        kind = validate_enum("effect", Effect, effect)
        whitelist = flag("is_whitelist", is_whitelist)
        if whitelist and (kind is Effect.DENY or subject is SubjectKind.GUILD):
            raise ValidationError.single(
                "is_whitelist", "whitelist", "lists a member, role, channel or category: allow only"
            )
        expiry = optional_aware("expires_at", expires_at)
        if expiry is not None and expiry <= utcnow():
            raise ValidationError.single("expires_at", "future", "must be in the future")
        why = optional_text("reason", reason, max_length=REASON_MAX_LENGTH)
        author = optional_snowflake("author_id", author_id)
        values = {
            "guild_id": guild_id,
            "subject_kind": subject,
            "subject_id": who,
            "target_kind": target,
            "target_name": name,
            "effect": kind,
            "is_whitelist": whitelist,
            "expires_at": expiry,
            "reason": why,
            "author_id": author,
        }
        keys = ["guild_id", "subject_kind", "subject_id", "target_kind", "target_name"]
        async with self._write() as session:
            await session.execute(
                select(func.pg_advisory_xact_lock(func.hashtextextended(f"permissions:{guild_id}", 0)))
            )
            values["target_name"] = await known_target(session, target, name)
            existing = (
                await session.scalars(
                    select(PermissionRule)
                    .where(*(getattr(PermissionRule, k) == values[k] for k in keys))
                    .with_for_update()
                )
            ).one_or_none()
            before = {} if existing is None else _fields(PermissionRuleRead.model_validate(existing))
            if existing is None:
                count = await session.scalar(
                    select(func.count()).select_from(PermissionRule).where(col(PermissionRule.guild_id) == guild_id)
                )
                if (count or 0) >= MAX_RULES_PER_GUILD:
                    msg = f"this server already has {MAX_RULES_PER_GUILD} rules; remove some first"
                    raise ConflictError(msg)
            stmt = insert(PermissionRule).values(**values, **actor_columns(PermissionRule, "insert"))
            upsert = stmt.on_conflict_do_update(
                index_elements=keys,
                set_={
                    **{f: stmt.excluded[f] for f in ("effect", "is_whitelist", "expires_at", "reason", "author_id")},
                    **actor_columns(PermissionRule, "update"),
                    "updated_at": func.now(),
                },
            ).returning(PermissionRule)
            row = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            rule = PermissionRuleRead.model_validate(row)
            await record_audit(
                session,
                AuditAction.PERMISSION_RULE_ADD,
                AuditEntity.PERMISSION_RULE,
                rule.rule_id,
                guild_id=guild_id,
                before=before,
                after=_fields(rule),
                reason=why,
            )
            self._stale(session, permissions_key(guild_id))
        return rule

    async def remove_rule(self, guild_id: int, rule_id: int) -> bool:
        """Delete one rule of the guild; False when it has no such rule."""
        guild_id, rule_id = snowflake("guild_id", guild_id), positive("rule_id", rule_id)
        stmt = (
            delete(PermissionRule)
            .where(col(PermissionRule.guild_id) == guild_id, col(PermissionRule.rule_id) == rule_id)
            .returning(PermissionRule)
        )
        async with self._write() as session:
            row = (await session.scalars(stmt)).one_or_none()
            if row is None:
                return False
            rule = PermissionRuleRead.model_validate(row)
            await record_audit(
                session,
                AuditAction.PERMISSION_RULE_REMOVE,
                AuditEntity.PERMISSION_RULE,
                rule_id,
                guild_id=guild_id,
                before=_fields(rule),
            )
            self._stale(session, permissions_key(guild_id))
        return True

    async def remove_expired(self, *, now: datetime | None = None) -> int:
        """Delete every rule expired by ``now`` (default: the database's clock), each with its audit row.

        The rows name the acting user, which is nobody when the job runs it.

        Checks ignore expired rules already; this keeps the table and the
        cached sets small (the ``permissions.expire`` job runs it).
        """
        moment = optional_aware("now", now)
        cutoff = func.now() if moment is None else moment
        stmt = (
            delete(PermissionRule)
            .where(col(PermissionRule.expires_at).is_not(None), col(PermissionRule.expires_at) <= cutoff)
            .returning(PermissionRule)
        )
        async with self._write() as session:
            rows = read_all(PermissionRuleRead, (await session.scalars(stmt)).all())
            for rule in rows:
                await record_audit(
                    session,
                    AuditAction.PERMISSION_RULE_EXPIRE,
                    AuditEntity.PERMISSION_RULE,
                    rule.rule_id,
                    guild_id=rule.guild_id,
                    before=_fields(rule),
                )
            self._stale(session, *sorted({permissions_key(rule.guild_id) for rule in rows}))
        return len(rows)

    # -- the check ------------------------------------------------------------------------------
    async def check(
        self,
        guild_id: int,
        user_id: int,
        *,
        command: str,
        role_ids: Sequence[int] = (),
        channel_id: int | None = None,
        parent_id: int | None = None,
        category_id: int | None = None,
        voice_channel_id: int | None = None,
        module: str | None = None,
        feature: Feature | str | None = None,
        is_guild_owner: bool = False,
        is_bot_owner: bool = False,
    ) -> Decision:
        """May ``user_id`` run ``command`` here? The decision names the rule or rank that decided it.

        ``role_ids`` are the member's roles from the highest to the lowest;
        ``parent_id`` is a thread's parent channel. The precedence is
        ``permission_eval.decide`` (``docs/permissions.md``). The check is
        logged: every denial, allows at ``permission_log_allow_rate``.
        """
        decision, row = await self._decide(
            guild_id, user_id, command, role_ids, channel_id, parent_id, category_id, voice_channel_id,
            module, feature, is_guild_owner, is_bot_owner,
        )  # fmt: skip
        if self._sampled(allowed=decision.allowed):
            writer = self.check_writer
            if not writer.offer(row):
                await writer.put(row)
        return decision

    async def explain(
        self,
        guild_id: int,
        user_id: int,
        *,
        command: str,
        role_ids: Sequence[int] = (),
        channel_id: int | None = None,
        parent_id: int | None = None,
        category_id: int | None = None,
        voice_channel_id: int | None = None,
        module: str | None = None,
        feature: Feature | str | None = None,
        is_guild_owner: bool = False,
        is_bot_owner: bool = False,
    ) -> Decision:
        """What ``check`` would answer, and why, without logging a check ("could @user run ban here?")."""
        decision, _row = await self._decide(
            guild_id, user_id, command, role_ids, channel_id, parent_id, category_id, voice_channel_id,
            module, feature, is_guild_owner, is_bot_owner,
        )  # fmt: skip
        return decision

    async def _decide(  # noqa: PLR0917 - check's arguments passed on flat (the hot path)
        self,
        guild_id: Any,
        user_id: Any,
        command: Any,
        role_ids: Any,
        channel_id: Any,
        parent_id: Any,
        category_id: Any,
        voice_channel_id: Any,
        module: Any,
        feature: Any,
        is_guild_owner: Any,
        is_bot_owner: Any,
    ) -> tuple[Decision, tuple[Any, ...]]:
        # The common case is checked with plain type tests; anything else goes through db.validation for its error.
        if not _is_id(guild_id):
            guild_id = snowflake("guild_id", guild_id)
        if not _is_id(user_id):
            user_id = snowflake("user_id", user_id)
        if type(role_ids) is not tuple or len(role_ids) > MAX_ROLES or not all(map(_is_id, role_ids)):
            role_ids = tuple(snowflakes("role_ids", role_ids, max_items=MAX_ROLES))
        if not (
            _is_optional_id(channel_id)
            and _is_optional_id(parent_id)
            and _is_optional_id(category_id)
            and _is_optional_id(voice_channel_id)
        ):
            for field, value in (
                ("channel_id", channel_id),
                ("parent_id", parent_id),
                ("category_id", category_id),
                ("voice_channel_id", voice_channel_id),
            ):
                optional_snowflake(field, value)
        if type(is_guild_owner) is not bool or type(is_bot_owner) is not bool:
            flag("is_guild_owner", is_guild_owner)
            flag("is_bot_owner", is_bot_owner)
        hashable = type(command) is str and isinstance(module, str | None) and isinstance(feature, str | None)
        context = self._contexts.get((command, module, feature)) if hashable else None
        if context is None:
            context = self._context(command, module, feature)
        compiled = await self._compiled(guild_id)
        now = time()
        compiled.refresh(now)
        owner = "the bot's owner" if is_bot_owner else "the server's owner" if is_guild_owner else None
        decision = decide(
            compiled, user_id, role_ids, channel_id, parent_id, category_id, voice_channel_id, *context, owner=owner
        )
        rule = decision.rule
        row = (
            now,  # epoch seconds: the writer's batch makes the timestamp (off the command's path)
            guild_id,
            user_id,
            channel_id,
            command,
            decision.allowed,
            decision.decided_by.value,
            None if rule is None else rule.rule_id,
            decision.required_rank,
            decision.member_rank,
        )
        return decision, row

    def _context(self, command: object, module: object, feature: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The target and rank keys of a (command, module, feature), validated once and kept."""
        name = text("command", command, min_length=1, max_length=TARGET_NAME_MAX_LENGTH)
        if not name.strip() or "  " in name:
            raise ValidationError.single("command", "command", "must be a command's qualified name")
        cog = optional_text("module", module, max_length=TARGET_NAME_MAX_LENGTH)
        toggle = None if feature is None else validate_enum("feature", Feature, feature).value
        context = (target_keys(name, cog, toggle), rank_keys(name, cog))
        if len(self._contexts) >= _CONTEXTS_KEPT:
            self._contexts.clear()
        self._contexts[(command, module, feature)] = context
        return context


def _fields(rule: PermissionRuleRead) -> dict[str, Any]:
    return rule.model_dump(mode="json", include=set(_RULE_FIELDS))
