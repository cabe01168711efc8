"""The permission precedence (R22.4), proven against a reference written straight from docs/permissions.md.

``reference`` below is a brute-force evaluator: no index, no early structure,
every rule scanned at every step, in the documented order. Hypothesis draws
rule sets (subjects and targets from small pools, so rules collide, expiries
on both sides of now, whitelists) and contexts (threads, categories, voice,
roles in rank order, owners), and ``decide`` (what ``db.permissions.check``
runs) must give the same answer, from the same rule or rank, on every case.
The truth table names the cases a reader checks by eye.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guildbase.controllers.permission_eval import CompiledPermissions, Decision, decide, rank_keys, target_keys
from guildbase.models.permissions import (
    ALL_TARGET,
    DecidedBy,
    Effect,
    PermissionRuleRead,
    PermissionSetRead,
    SubjectKind,
    TargetKind,
)
from guildbase.testing import shifted_now

GUILD = 1_100_000_000_000_000_001
NOW = shifted_now().timestamp()  # decide takes "now" as a number: the test clock's
USERS = (1_100_000_000_000_000_101, 1_100_000_000_000_000_102)
ROLES = (1_100_000_000_000_000_201, 1_100_000_000_000_000_202, 1_100_000_000_000_000_203)
CHANNELS = (1_100_000_000_000_000_301, 1_100_000_000_000_000_302, 1_100_000_000_000_000_303)
CATEGORIES = (1_100_000_000_000_000_401, 1_100_000_000_000_000_402)
COMMANDS = ("mod ban", "mod", "ping")
MODULE, FEATURE = "Moderation", "levels"


@dataclass(frozen=True)
class Use:
    """One command use: who, where, what."""

    user_id: int = USERS[0]
    role_ids: tuple[int, ...] = ()
    channel_id: int | None = CHANNELS[0]
    parent_id: int | None = None
    category_id: int | None = None
    voice_channel_id: int | None = None
    command: str = "mod ban"
    module: str | None = MODULE
    feature: str | None = None
    owner: str | None = None


# -- the reference: docs/permissions.md, read top to bottom ----------------------------------------
def reference(source: PermissionSetRead, use: Use, now: float) -> tuple[bool, DecidedBy, int | None]:  # noqa: C901, PLR0911, PLR0912
    """(allowed, what decided, the deciding rule's ID) by scanning every rule at every step."""
    if use.owner is not None:  # 1. owners pass
        return True, DecidedBy.OWNER, None
    live = [r for r in source.rules if r.expires_at is None or r.expires_at.timestamp() > now]
    parts = use.command.split(" ")
    targets = [("command", " ".join(parts[:n])) for n in range(len(parts), 0, -1)]
    targets += [("module", use.module)] if use.module else []
    targets += [("feature", use.feature)] if use.feature else []
    targets += [("all", ALL_TARGET)]
    for kind, name in targets:  # 2. most specific target first
        on = [r for r in live if (r.target_kind.value, r.target_name) == (kind, name)]

        def about(
            subject: SubjectKind, ids: set[int | None], on: list[PermissionRuleRead] = on
        ) -> list[PermissionRuleRead]:
            return [r for r in on if r.subject_kind is subject and r.subject_id in ids]

        def whitelist(subject: SubjectKind, on: list[PermissionRuleRead] = on) -> PermissionRuleRead | None:
            listed = [r for r in on if r.subject_kind is subject and r.is_whitelist]
            return min(listed, key=lambda r: r.rule_id) if listed else None

        def verdict(rule: PermissionRuleRead) -> tuple[bool, DecidedBy, int | None]:
            return rule.effect is Effect.ALLOW, DecidedBy.RULE, rule.rule_id

        # 3. levels: member, voice channel, channel (thread + parent), category, roles high→low, guild default
        if found := about(SubjectKind.MEMBER, {use.user_id}):
            return verdict(found[0])
        if wl := whitelist(SubjectKind.MEMBER):
            return False, DecidedBy.WHITELIST, wl.rule_id
        if use.voice_channel_id is not None and (found := about(SubjectKind.CHANNEL, {use.voice_channel_id})):
            return verdict(found[0])
        if found := about(SubjectKind.CHANNEL, {use.channel_id, use.parent_id} - {None}):
            found.sort(key=lambda r: r.subject_id != use.channel_id)  # a thread's own rule is named before its parent's
            denies = [r for r in found if r.effect is Effect.DENY]
            return verdict(denies[0] if denies else found[0])  # allow against deny at one level: deny
        if wl := whitelist(SubjectKind.CHANNEL):
            return False, DecidedBy.WHITELIST, wl.rule_id
        if use.category_id is not None and (found := about(SubjectKind.CATEGORY, {use.category_id})):
            return verdict(found[0])
        if wl := whitelist(SubjectKind.CATEGORY):
            return False, DecidedBy.WHITELIST, wl.rule_id
        for role in use.role_ids:
            if found := about(SubjectKind.ROLE, {role}):
                return verdict(found[0])
        if wl := whitelist(SubjectKind.ROLE):
            return False, DecidedBy.WHITELIST, wl.rule_id
        if found := [r for r in on if r.subject_kind is SubjectKind.GUILD]:
            return verdict(found[0])
    # 4. ranks: the command, its parents, its module; the member's highest role rank (0 without one)
    for kind, name in [t for t in targets if t[0] in {"command", "module"}]:
        required = source.command_ranks.get(f"{kind}:{name}")
        if required is not None:
            rank = max([source.role_ranks.get(r, 0) for r in use.role_ids], default=0)
            return rank >= required, DecidedBy.RANK, None
    return source.is_unconfigured_allowed, DecidedBy.DEFAULT, None  # 5. the guild's setting


def run(source: PermissionSetRead, use: Use, now: float = NOW) -> Decision:
    compiled = CompiledPermissions(source, now)
    return decide(
        compiled,
        use.user_id,
        use.role_ids,
        use.channel_id,
        use.parent_id,
        use.category_id,
        use.voice_channel_id,
        target_keys(use.command, use.module, use.feature),
        rank_keys(use.command, use.module),
        owner=use.owner,
    )


def agree(source: PermissionSetRead, use: Use, now: float = NOW) -> Decision:
    decision = run(source, use, now)
    rule_id = None if decision.rule is None else decision.rule.rule_id
    assert (decision.allowed, decision.decided_by, rule_id) == reference(source, use, now), decision.reason()
    return decision


# -- rule sets and contexts ----------------------------------------------------------------------
SUBJECTS = st.one_of(
    st.tuples(st.just(SubjectKind.MEMBER), st.sampled_from(USERS)),
    st.tuples(st.just(SubjectKind.ROLE), st.sampled_from(ROLES)),
    st.tuples(st.just(SubjectKind.CHANNEL), st.sampled_from(CHANNELS)),
    st.tuples(st.just(SubjectKind.CATEGORY), st.sampled_from(CATEGORIES)),
    st.just((SubjectKind.GUILD, GUILD)),
)
TARGETS = st.one_of(
    st.tuples(st.just(TargetKind.COMMAND), st.sampled_from(COMMANDS)),
    st.just((TargetKind.MODULE, MODULE)),
    st.just((TargetKind.FEATURE, FEATURE)),
    st.just((TargetKind.ALL, ALL_TARGET)),
)
EXPIRIES = st.one_of(st.none(), st.integers(-3600, 3600).map(lambda s: datetime.fromtimestamp(NOW + s, UTC)))


@st.composite
def rule_sets(draw: st.DrawFn) -> PermissionSetRead:
    rules: dict[tuple[object, ...], PermissionRuleRead] = {}
    for index in range(draw(st.integers(0, 14))):
        subject_kind, subject_id = draw(SUBJECTS)
        target_kind, target_name = draw(TARGETS)
        effect = draw(st.sampled_from(Effect))
        whitelist = effect is Effect.ALLOW and subject_kind is not SubjectKind.GUILD and draw(st.booleans())
        rule = PermissionRuleRead(
            rule_id=index + 1,
            guild_id=GUILD,
            subject_kind=subject_kind,
            subject_id=subject_id,
            target_kind=target_kind,
            target_name=target_name,
            effect=effect,
            is_whitelist=whitelist,
            expires_at=draw(EXPIRIES),
        )
        rules[(subject_kind, subject_id, target_kind, target_name)] = rule  # one rule per subject and target
    ranks = draw(st.dictionaries(st.sampled_from(ROLES), st.integers(0, 10), max_size=3))
    commands = draw(
        st.dictionaries(
            st.sampled_from([f"command:{c}" for c in COMMANDS] + [f"module:{MODULE}"]), st.integers(0, 10), max_size=3
        )
    )
    return PermissionSetRead(
        guild_id=GUILD,
        is_unconfigured_allowed=draw(st.booleans()),
        role_ranks=ranks,
        command_ranks=commands,
        rules=sorted(rules.values(), key=lambda r: r.rule_id),
    )


@st.composite
def uses(draw: st.DrawFn) -> Use:
    in_thread = draw(st.booleans())
    channel = draw(st.sampled_from(CHANNELS))
    return Use(
        user_id=draw(st.sampled_from(USERS)),
        role_ids=tuple(draw(st.permutations(ROLES))[: draw(st.integers(0, len(ROLES)))]),
        channel_id=channel,
        parent_id=draw(st.sampled_from(CHANNELS)) if in_thread else None,
        category_id=draw(st.one_of(st.none(), st.sampled_from(CATEGORIES))),
        voice_channel_id=draw(st.one_of(st.none(), st.sampled_from(CHANNELS))),
        command=draw(st.sampled_from(COMMANDS)),
        module=draw(st.one_of(st.none(), st.just(MODULE))),
        feature=draw(st.one_of(st.none(), st.just(FEATURE))),
        owner=draw(st.sampled_from([None, None, None, "the server's owner"])),
    )


@settings(max_examples=1500, deadline=None)
@given(rule_sets(), uses(), st.integers(-4000, 4000))
def test_decide_agrees_with_the_documented_order_on_every_generated_case(
    source: PermissionSetRead, use: Use, offset: int
) -> None:
    agree(source, use, NOW + offset)


@settings(max_examples=200, deadline=None)
@given(rule_sets(), uses(), st.integers(1, 4000))
def test_a_compiled_set_refreshed_later_answers_like_one_compiled_then(
    source: PermissionSetRead, use: Use, later: int
) -> None:
    compiled = CompiledPermissions(source, NOW)
    compiled.refresh(NOW + later)
    fresh = CompiledPermissions(source, NOW + later)
    keys = (target_keys(use.command, use.module, use.feature), rank_keys(use.command, use.module))
    context = (use.user_id, use.role_ids, use.channel_id, use.parent_id, use.category_id, use.voice_channel_id)
    assert decide(compiled, *context, *keys) == decide(fresh, *context, *keys)


# -- the truth table ---------------------------------------------------------------------------------
def rule(
    rule_id: int,
    subject: SubjectKind,
    subject_id: int,
    effect: Effect,
    target: tuple[TargetKind, str] = (TargetKind.COMMAND, "mod ban"),
    *,
    whitelist: bool = False,
    expires_in: float | None = None,
) -> PermissionRuleRead:
    return PermissionRuleRead(
        rule_id=rule_id,
        guild_id=GUILD,
        subject_kind=subject,
        subject_id=subject_id,
        target_kind=target[0],
        target_name=target[1],
        effect=effect,
        is_whitelist=whitelist,
        expires_at=None if expires_in is None else datetime.fromtimestamp(NOW + expires_in, UTC),
    )


A, D = Effect.ALLOW, Effect.DENY
M, R, C, K, G = SubjectKind.MEMBER, SubjectKind.ROLE, SubjectKind.CHANNEL, SubjectKind.CATEGORY, SubjectKind.GUILD
U, U2 = USERS
R_HIGH, R_LOW, _ = ROLES
CH, PARENT, VOICE = CHANNELS
CAT = CATEGORIES[0]
MOD = (TargetKind.MODULE, MODULE)
ALL = (TargetKind.ALL, ALL_TARGET)
PARENT_CMD = (TargetKind.COMMAND, "mod")

TABLE: list[tuple[str, list[PermissionRuleRead], Use, bool, DecidedBy, int | None]] = [
    ("nothing configured: the default allows", [], Use(), True, DecidedBy.DEFAULT, None),
    (
        "a member rule beats a role rule",
        [rule(1, R, R_HIGH, A), rule(2, M, U, D)],
        Use(role_ids=(R_HIGH,)),
        False,
        DecidedBy.RULE,
        2,
    ),
    ("a member rule beats a channel rule", [rule(1, C, CH, D), rule(2, M, U, A)], Use(), True, DecidedBy.RULE, 2),
    (
        "the voice channel beats the text channel",
        [rule(1, C, CH, D), rule(2, C, VOICE, A)],
        Use(voice_channel_id=VOICE),
        True,
        DecidedBy.RULE,
        2,
    ),
    (
        "a thread is decided by its parent's rule",
        [rule(1, C, PARENT, D)],
        Use(parent_id=PARENT),
        False,
        DecidedBy.RULE,
        1,
    ),
    (
        "thread allowed, parent denied: deny wins",
        [rule(1, C, CH, A), rule(2, C, PARENT, D)],
        Use(parent_id=PARENT),
        False,
        DecidedBy.RULE,
        2,
    ),
    (
        "the channel beats its category",
        [rule(1, K, CAT, D), rule(2, C, CH, A)],
        Use(category_id=CAT),
        True,
        DecidedBy.RULE,
        2,
    ),
    (
        "the category beats roles",
        [rule(1, R, R_HIGH, A), rule(2, K, CAT, D)],
        Use(category_id=CAT, role_ids=(R_HIGH,)),
        False,
        DecidedBy.RULE,
        2,
    ),
    (
        "the highest role with a rule decides",
        [rule(1, R, R_LOW, D), rule(2, R, R_HIGH, A)],
        Use(role_ids=(R_HIGH, R_LOW)),
        True,
        DecidedBy.RULE,
        2,
    ),
    (
        "a lower role decides when the higher has none",
        [rule(1, R, R_LOW, D)],
        Use(role_ids=(R_HIGH, R_LOW)),
        False,
        DecidedBy.RULE,
        1,
    ),
    (
        "roles beat the guild default",
        [rule(1, G, GUILD, D), rule(2, R, R_LOW, A)],
        Use(role_ids=(R_LOW,)),
        True,
        DecidedBy.RULE,
        2,
    ),
    ("the guild default applies last", [rule(1, G, GUILD, D)], Use(role_ids=(R_LOW,)), False, DecidedBy.RULE, 1),
    (
        "a subcommand rule beats the parent command's",
        [rule(1, M, U, D, PARENT_CMD), rule(2, G, GUILD, A)],
        Use(),
        True,
        DecidedBy.RULE,
        2,
    ),
    (
        "the parent command's rule covers its subcommands",
        [rule(1, C, CH, D, PARENT_CMD)],
        Use(),
        False,
        DecidedBy.RULE,
        1,
    ),
    (
        "a command rule beats a module rule",
        [rule(1, M, U, D, MOD), rule(2, G, GUILD, A)],
        Use(),
        True,
        DecidedBy.RULE,
        2,
    ),
    (
        "a module rule beats an all rule",
        [rule(1, M, U, A, ALL), rule(2, G, GUILD, D, MOD)],
        Use(),
        False,
        DecidedBy.RULE,
        2,
    ),
    (
        "an all rule covers every command",
        [rule(1, R, R_LOW, D, ALL)],
        Use(command="ping", module=None, role_ids=(R_LOW,)),
        False,
        DecidedBy.RULE,
        1,
    ),
    (
        "a channel whitelist denies other channels",
        [rule(1, C, PARENT, A, whitelist=True)],
        Use(),
        False,
        DecidedBy.WHITELIST,
        1,
    ),
    ("a channel whitelist allows its channel", [rule(1, C, CH, A, whitelist=True)], Use(), True, DecidedBy.RULE, 1),
    (
        "a whitelist lists a thread's parent",
        [rule(1, C, PARENT, A, whitelist=True)],
        Use(parent_id=PARENT),
        True,
        DecidedBy.RULE,
        1,
    ),
    (
        "a role whitelist denies members without its roles",
        [rule(1, R, R_HIGH, A, whitelist=True)],
        Use(role_ids=(R_LOW,)),
        False,
        DecidedBy.WHITELIST,
        1,
    ),
    (
        "a member rule beats a channel whitelist",
        [rule(1, C, PARENT, A, whitelist=True), rule(2, M, U, A)],
        Use(),
        True,
        DecidedBy.RULE,
        2,
    ),
    (
        "an unlisted voice channel leaves a channel whitelist be",
        [rule(1, C, CH, A, whitelist=True)],
        Use(voice_channel_id=VOICE),
        True,
        DecidedBy.RULE,
        1,
    ),
    ("an expired rule does not apply", [rule(1, M, U, D, expires_in=-1)], Use(), True, DecidedBy.DEFAULT, None),
    ("a rule applies until it expires", [rule(1, M, U, D, expires_in=1)], Use(), False, DecidedBy.RULE, 1),
    ("another member's rule does not apply", [rule(1, M, U2, D)], Use(), True, DecidedBy.DEFAULT, None),
    ("the owner passes a deny", [rule(1, M, U, D, ALL)], Use(owner="the server's owner"), True, DecidedBy.OWNER, None),
]


@pytest.mark.parametrize(
    ("rules", "use", "allowed", "decided_by", "rule_id"), [case[1:] for case in TABLE], ids=[case[0] for case in TABLE]
)
def test_truth_table(
    rules: list[PermissionRuleRead], use: Use, allowed: bool, decided_by: DecidedBy, rule_id: int | None
) -> None:
    decision = agree(PermissionSetRead(guild_id=GUILD, rules=rules), use)
    assert (decision.allowed, decision.decided_by) == (allowed, decided_by), decision.reason()
    assert (None if decision.rule is None else decision.rule.rule_id) == rule_id


RANKED = PermissionSetRead(
    guild_id=GUILD,
    rank_names={5: "Moderator"},
    role_ranks={R_HIGH: 5, R_LOW: 2},
    command_ranks={"command:mod": 5, "module:Moderation": 3},
)
RANK_TABLE = [
    ("the highest role's rank counts", RANKED, Use(role_ids=(R_LOW, R_HIGH)), True, 5),
    ("a subcommand falls back to its parent's rank", RANKED, Use(role_ids=(R_LOW,)), False, 5),
    ("a command without a rank falls back to its module", RANKED, Use(command="ping", role_ids=(R_LOW,)), False, 3),
    ("no role: rank 0", RANKED, Use(command="ping"), False, 3),
]


@pytest.mark.parametrize(
    ("source", "use", "allowed", "required"), [c[1:] for c in RANK_TABLE], ids=[c[0] for c in RANK_TABLE]
)
def test_rank_table(source: PermissionSetRead, use: Use, allowed: bool, required: int) -> None:
    decision = agree(source, use)
    assert (decision.allowed, decision.decided_by, decision.required_rank) == (allowed, DecidedBy.RANK, required)


def test_a_rule_decides_before_ranks_and_the_default_after_them() -> None:
    allowed = RANKED.model_copy(update={"rules": [rule(1, R, R_LOW, A)]})
    assert agree(allowed, Use(role_ids=(R_LOW,))).decided_by is DecidedBy.RULE  # rank 2 < 5, the rule allows
    closed = PermissionSetRead(guild_id=GUILD, is_unconfigured_allowed=False)
    decision = agree(closed, Use(command="ping", module=None))
    assert (decision.allowed, decision.decided_by) == (False, DecidedBy.DEFAULT)
    assert "denies unconfigured commands" in decision.reason()


def test_reasons_name_the_rule_the_level_and_the_rank() -> None:
    decision = run(PermissionSetRead(guild_id=GUILD, rules=[rule(12, R, R_HIGH, D)]), Use(role_ids=(R_HIGH,)))
    assert decision.reason() == (
        f"denied by rule #12 (deny command mod ban for role {R_HIGH}), at the role level, on command:mod ban"
    )
    ranked = run(RANKED, Use(role_ids=(R_LOW,)))
    assert ranked.reason() == "denied: command:mod needs rank 5 (Moderator), the member has rank 2"


def test_a_later_expiry_is_found_after_an_earlier_one_expires() -> None:
    source = PermissionSetRead(
        guild_id=GUILD, rules=[rule(1, M, U, D, expires_in=10), rule(2, R, R_LOW, D, expires_in=20)]
    )
    compiled = CompiledPermissions(source, NOW)
    use = Use(role_ids=(R_LOW,))
    keys = (target_keys(use.command, use.module, use.feature), rank_keys(use.command, use.module))
    context = (use.user_id, use.role_ids, use.channel_id, use.parent_id, use.category_id, use.voice_channel_id)
    seen = []
    for moment in (NOW, NOW + 15, NOW + 25):
        compiled.refresh(moment)
        found = decide(compiled, *context, *keys)
        seen.append(None if found.rule is None else found.rule.rule_id)
    assert seen == [1, 2, None]
    assert compiled.next_expiry == float("inf")
