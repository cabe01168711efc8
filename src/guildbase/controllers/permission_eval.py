"""The permission precedence, in one function (``decide``), over a guild's compiled rule set.

The order (``docs/permissions.md`` says the same, with the reasons):

1. The bot's owner and the guild's owner pass.
2. Rules, by target from the most specific to the least: the command itself
   (a subcommand ``mod ban``), then each parent command (``mod``), then the
   command's module (its cog), then its feature, then "all". The first target
   that has a deciding rule decides; a broader target is never asked.
3. Within one target, by subject level: the member; the voice channel the
   member is in; the channel the command was used in (a thread and its parent
   channel are one level); the channel's category; the member's roles from
   the highest to the lowest (the highest role that has a rule decides); the
   guild default. The first level with a matching rule decides.
   - Allow against deny at one level (a thread allowed, its parent denied)
     is a **deny**: an explicit refusal is never overridden by an equally
     specific permission.
   - A whitelist at the member, channel, category or role level ("only these
     channels") denies at that level when none of the context's entities of
     that kind is listed and no other rule of that level matched. Voice
     channels take explicit rules only (being in an unlisted voice channel
     must not cancel a text-channel whitelist).
4. Ranks, when no rule decided: the rank the command needs (its own, else its
   parent's, else its module's) against the member's rank (the highest rank of
   their roles, 0 without one).
5. Otherwise the guild's setting for unconfigured commands (allow by default).

Rules come before ranks because a rule names someone or somewhere on purpose
(``allow @Helpers to use ban``), a rank is the baseline; the guild owner
bounds both.

Expired rules are dropped when a check reads the compiled set (it knows its
earliest expiry), so an expiry applies at once, with no SQL and no restart.
"""

import math
from dataclasses import dataclass
from datetime import datetime

from guildbase.models.permissions import (
    ALL_TARGET,
    DecidedBy,
    Effect,
    PermissionRuleRead,
    PermissionSetRead,
    SubjectKind,
    TargetKind,
)

__all__ = [
    "LEVELS",
    "CompiledPermissions",
    "Decision",
    "TargetRules",
    "decide",
    "rank_keys",
    "target_keys",
]

LEVELS = ("member", "voice channel", "channel", "category", "role", "guild default")
"""The subject levels, in the order they are asked (names used in decisions)."""


def target_key(kind: TargetKind | str, name: str) -> str:
    """``command:mod ban``: how compiled sets and rank maps key a target."""
    return f"{kind}:{name}"


def _chain(command: str) -> list[str]:
    """``a b c`` → ``[a b c, a b, a]``: the command, then each parent."""
    parts = command.split(" ")
    return [" ".join(parts[:end]) for end in range(len(parts), 0, -1)]


def target_keys(command: str, module: str | None, feature: str | None) -> tuple[str, ...]:
    """The rule targets of a command, most specific first (step 2 of the order)."""
    keys = [target_key(TargetKind.COMMAND, name) for name in _chain(command)]
    if module is not None:
        keys.append(target_key(TargetKind.MODULE, module))
    if feature is not None:
        keys.append(target_key(TargetKind.FEATURE, feature))
    keys.append(target_key(TargetKind.ALL, ALL_TARGET))
    return tuple(keys)


def rank_keys(command: str, module: str | None) -> tuple[str, ...]:
    """Where a command's required rank is looked up, in order: itself, its parents, its module."""
    keys = [target_key(TargetKind.COMMAND, name) for name in _chain(command)]
    if module is not None:
        keys.append(target_key(TargetKind.MODULE, module))
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class Decision:
    """A check's answer and what decided it (the rule, the rank, the owner or the default)."""

    allowed: bool
    decided_by: DecidedBy
    rule: PermissionRuleRead | None = None
    level: str | None = None
    target: str | None = None
    required_rank: int | None = None
    member_rank: int | None = None
    rank_name: str | None = None
    is_default_allowed: bool | None = None

    def reason(self) -> str:
        """One sentence saying why, for the refusal reply and the explain command."""
        verdict = "allowed" if self.allowed else "denied"
        if self.decided_by is DecidedBy.OWNER:
            return f"{verdict}: {self.level} always passes"
        if self.decided_by is DecidedBy.RULE and self.rule is not None:
            return f"{verdict} by {self.rule.describe()}, at the {self.level} level, on {self.target}"
        if self.decided_by is DecidedBy.WHITELIST and self.rule is not None:
            return (
                f"{verdict}: no {self.level} of this use is on the whitelist of {self.target} ({self.rule.describe()})"
            )
        if self.decided_by is DecidedBy.RANK:
            name = f" ({self.rank_name})" if self.rank_name else ""
            needs = f"{self.target} needs rank {self.required_rank}{name}"
            return f"{verdict}: {needs}, the member has rank {self.member_rank}"
        policy = "allows" if self.is_default_allowed else "denies"
        return f"{verdict}: no rule or rank applies, and this server {policy} unconfigured commands"


class TargetRules:
    """The live rules of one target, indexed by subject level."""

    __slots__ = ("categories", "channels", "guild", "members", "roles", "whitelists")

    def __init__(self) -> None:
        self.members: dict[int, PermissionRuleRead] = {}
        self.channels: dict[int, PermissionRuleRead] = {}
        self.categories: dict[int, PermissionRuleRead] = {}
        self.roles: dict[int, PermissionRuleRead] = {}
        self.guild: PermissionRuleRead | None = None
        self.whitelists: dict[SubjectKind, PermissionRuleRead] = {}
        """Subject kind → its first whitelist rule, for the kinds that have a whitelist on this target."""

    def add(self, rule: PermissionRuleRead) -> None:
        kind = rule.subject_kind
        if kind is SubjectKind.GUILD:
            self.guild = rule
            return
        table = {
            SubjectKind.MEMBER: self.members,
            SubjectKind.CHANNEL: self.channels,
            SubjectKind.CATEGORY: self.categories,
            SubjectKind.ROLE: self.roles,
        }[kind]
        table[rule.subject_id] = rule
        if rule.is_whitelist:
            first = self.whitelists.get(kind)
            if first is None or (rule.rule_id < first.rule_id):
                self.whitelists[kind] = rule


class CompiledPermissions:
    """A guild's ``PermissionSetRead`` indexed for ``decide``; rebuilt in place when a rule expires."""

    __slots__ = (
        "command_ranks",
        "decisions",
        "next_expiry",
        "rank_names",
        "role_ranks",
        "source",
        "targets",
        "unconfigured",
    )

    def __init__(self, source: PermissionSetRead, now: float) -> None:
        self.source = source
        self.role_ranks = dict(source.role_ranks)
        self.command_ranks = dict(source.command_ranks)
        self.rank_names = dict(source.rank_names)
        self.unconfigured = source.is_unconfigured_allowed
        self.targets: dict[str, TargetRules] = {}
        self.next_expiry = math.inf
        self.decisions: dict[tuple[object, ...], Decision] = {}
        """Decisions made so far (they are values: one rule at one level on one target decides alike)."""
        self._build(now)

    def _build(self, now: float) -> None:
        targets: dict[str, TargetRules] = {}
        next_expiry = math.inf
        for rule in self.source.rules:
            if rule.expires_at is not None:
                expiry = rule.expires_at.timestamp()
                if expiry <= now:
                    continue
                next_expiry = min(next_expiry, expiry)
            key = target_key(rule.target_kind, rule.target_name)
            rules = targets.get(key)
            if rules is None:
                rules = targets[key] = TargetRules()
            rules.add(rule)
        self.targets = targets
        self.next_expiry = next_expiry
        self.decisions = {}

    def refresh(self, now: float) -> None:
        """Drop the rules that expired by ``now`` (a no-op until the earliest expiry)."""
        if now >= self.next_expiry:
            self._build(now)

    def live_rules(self) -> list[PermissionRuleRead]:
        """The rules that apply now (as of the last ``refresh``)."""
        ids = {
            r.rule_id
            for t in self.targets.values()
            for r in (*t.members.values(), *t.channels.values(), *t.categories.values(), *t.roles.values(), t.guild)
            if r is not None
        }
        return [rule for rule in self.source.rules if rule.rule_id in ids]


def _deny_first(first: PermissionRuleRead | None, second: PermissionRuleRead | None) -> PermissionRuleRead | None:
    """Two rules of one level: a deny wins; otherwise whichever exists."""
    if first is None:
        return second
    if second is None or first.effect is Effect.DENY:
        return first
    return second if second.effect is Effect.DENY else first


def _at_levels(  # noqa: C901, PLR0911, PLR0917 - one return per level is the order, read top to bottom
    rules: TargetRules,
    user_id: int,
    role_ids: tuple[int, ...] | list[int],
    channel_id: int | None,
    parent_id: int | None,
    category_id: int | None,
    voice_channel_id: int | None,
) -> tuple[str, PermissionRuleRead, bool] | None:
    """The level, rule and whether it is a whitelist denial, for the first level that decides (step 3)."""
    whitelists = rules.whitelists
    found = rules.members.get(user_id)
    if found is not None:
        return "member", found, False
    if SubjectKind.MEMBER in whitelists:
        return "member", whitelists[SubjectKind.MEMBER], True
    channels = rules.channels
    if voice_channel_id is not None and (found := channels.get(voice_channel_id)) is not None:
        return "voice channel", found, False
    found = _deny_first(
        None if channel_id is None else channels.get(channel_id), None if parent_id is None else channels.get(parent_id)
    )
    if found is not None:
        return "channel", found, False
    if SubjectKind.CHANNEL in whitelists:
        return "channel", whitelists[SubjectKind.CHANNEL], True
    if category_id is not None and (found := rules.categories.get(category_id)) is not None:
        return "category", found, False
    if SubjectKind.CATEGORY in whitelists:
        return "category", whitelists[SubjectKind.CATEGORY], True
    roles = rules.roles
    if roles:
        for role_id in role_ids:
            found = roles.get(role_id)
            if found is not None:
                return "role", found, False
    if SubjectKind.ROLE in whitelists:
        return "role", whitelists[SubjectKind.ROLE], True
    if rules.guild is not None:
        return "guild default", rules.guild, False
    return None


def decide(  # noqa: PLR0917 - the check's context, passed flat: this runs before every command
    compiled: CompiledPermissions,
    user_id: int,
    role_ids: tuple[int, ...] | list[int],
    channel_id: int | None,
    parent_id: int | None,
    category_id: int | None,
    voice_channel_id: int | None,
    targets: tuple[str, ...],
    ranks: tuple[str, ...],
    *,
    owner: str | None = None,
) -> Decision:
    """THE precedence (module docstring): owner, rules by target then level, ranks, the guild default.

    ``role_ids`` are the member's roles from the highest to the lowest;
    ``targets`` and ``ranks`` come from ``target_keys`` and ``rank_keys``;
    ``owner`` names the owner who passes ("the guild owner"), if one acts.
    """
    if owner is not None:
        return Decision(allowed=True, decided_by=DecidedBy.OWNER, level=owner)
    decisions = compiled.decisions
    by_target = compiled.targets
    for key in targets:
        rules = by_target.get(key)
        if rules is None:
            continue
        found = _at_levels(rules, user_id, role_ids, channel_id, parent_id, category_id, voice_channel_id)
        if found is not None:
            memo: tuple[object, ...] = (key, found[0], id(found[1]), found[2])  # the rule object, by identity
            decision = decisions.get(memo)
            if decision is None:
                level, rule, whitelisted = found
                allowed = rule.effect is Effect.ALLOW and not whitelisted
                decided_by = DecidedBy.WHITELIST if whitelisted else DecidedBy.RULE
                decision = Decision(allowed=allowed, decided_by=decided_by, rule=rule, level=level, target=key)
                decisions[memo] = decision
            return decision
    ranked = _by_rank(compiled, ranks, role_ids)
    if ranked is not None:
        return ranked
    decision = decisions.get(())
    if decision is None:
        allowed = compiled.unconfigured
        decision = decisions[()] = Decision(allowed=allowed, decided_by=DecidedBy.DEFAULT, is_default_allowed=allowed)
    return decision


def _by_rank(
    compiled: CompiledPermissions, ranks: tuple[str, ...], role_ids: tuple[int, ...] | list[int]
) -> Decision | None:
    """Step 4: the first required rank found (command, parents, module) against the member's rank."""
    command_ranks = compiled.command_ranks
    if not command_ranks:
        return None
    for key in ranks:
        required = command_ranks.get(key)
        if required is None:
            continue
        role_ranks = compiled.role_ranks
        member_rank = max((role_ranks.get(r, 0) for r in role_ids), default=0) if role_ranks else 0
        memo = (key, member_rank)
        decision = compiled.decisions.get(memo)
        if decision is None:
            decision = compiled.decisions[memo] = Decision(
                allowed=member_rank >= required,
                decided_by=DecidedBy.RANK,
                target=key,
                required_rank=required,
                member_rank=member_rank,
                rank_name=compiled.rank_names.get(required),
            )
        return decision
    return None


def expired(rule: PermissionRuleRead, now: datetime) -> bool:
    """Whether ``rule`` no longer applies at ``now``."""
    return rule.expires_at is not None and rule.expires_at <= now
