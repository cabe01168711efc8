"""A guild's message filters compiled into one matcher: what a message breaks, found in one pass per kind.

- ``words``: every word of every word-list rule, ``normalize``d, is a key of one
  Aho-Corasick automaton run over the normalised message; a hit counts at word
  bounds only (``ass`` does not catch ``class``);
- ``regex``: one RE2 set over the message as written;
- ``invites``: every Discord invite code in the message (RE2); the codes are
  handed back in ``FilterHit.detail`` and the bot resolves them to guilds,
  because only Discord knows which guild a code points to (``allowed_guild_ids``);
- ``domains``: every URL's host (RE2), caught when it (or a parent domain) is
  on a deny list, or is not on an allow list;
- ``mentions``: at least ``threshold`` distinct user and role mentions;
- ``caps``: at least ``threshold`` percent capitals among at least ``MIN_CAPS_LETTERS`` letters.

A rule is skipped in its exempt channels and for authors with an exempt role.
"""

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

from guildbase.matching.normalize import normalize
from guildbase.matching.patterns import flagged, options, regex_set
from guildbase.matching.triggers import at_word_bounds, automaton, literal_hits

__all__ = ["MIN_CAPS_LETTERS", "FilterAction", "FilterHit", "FilterKind", "FilterMatcher", "FilterRule"]

MIN_CAPS_LETTERS = 8
"""A message with fewer letters is never caught by a caps rule ("OK", "LOL")."""
_INVITE = re2.compile(
    r"(?i)(?:discord(?:app)?\.com/invite|discord\.gg|discord\.me|dsc\.gg)/([a-z0-9-]{2,32})",
    options(capture=True),
)
_HOST = re2.compile(r"(?i)\bhttps?://([a-z0-9.-]{1,253})", options(capture=True))


class FilterKind(enum.StrEnum):
    """What a filter rule catches; the stored label is the value."""

    WORDS = "words"
    REGEX = "regex"
    INVITES = "invites"
    DOMAINS = "domains"
    MENTIONS = "mentions"
    CAPS = "caps"


class FilterAction(enum.StrEnum):
    """What the bot does with a caught message; every action but ``log`` deletes it."""

    DELETE = "delete"
    WARN = "warn"
    TIMEOUT = "timeout"
    LOG = "log"


SEVERITY = {FilterAction.LOG: 0, FilterAction.DELETE: 1, FilterAction.WARN: 2, FilterAction.TIMEOUT: 3}
"""When several rules catch one message, the most severe action is taken."""


@dataclass(frozen=True, slots=True)
class FilterRule:
    """One filter rule as the matcher needs it (built from a ``MessageFilter`` row)."""

    rule_id: int
    kind: FilterKind
    action: FilterAction
    pattern: str | None = None
    is_case_sensitive: bool = False
    words: tuple[str, ...] = ()
    """``words``: the word list; ``domains``: the domains."""
    is_allowlist: bool = False
    threshold: int | None = None
    exempt_channel_ids: frozenset[int] = field(default_factory=frozenset)
    exempt_role_ids: frozenset[int] = field(default_factory=frozenset)

    def applies(self, channel_id: int, role_ids: frozenset[int]) -> bool:
        """Whether the rule checks messages of an author with ``role_ids`` in ``channel_id``."""
        return channel_id not in self.exempt_channel_ids and self.exempt_role_ids.isdisjoint(role_ids)


@dataclass(frozen=True, slots=True)
class FilterHit:
    """A rule a message broke, with what caught it (a word, a domain, invite codes …)."""

    rule_id: int
    kind: FilterKind
    action: FilterAction
    detail: tuple[str, ...] = ()


def _domain_listed(host: str, domains: frozenset[str]) -> bool:
    parts = host.split(".")
    return any(".".join(parts[index:]) in domains for index in range(len(parts)))


class FilterMatcher:
    """The compiled filter rules of one guild; ``check`` returns every rule a message breaks."""

    def __init__(self, rules: Sequence[FilterRule]) -> None:
        self.rules = {rule.rule_id: rule for rule in rules}
        words: dict[str, list[int]] = {}
        regexes: list[str] = []
        self._regex_ids: list[int] = []
        self._others: list[FilterRule] = []
        self._domains: dict[int, frozenset[str]] = {}
        for rule in rules:
            if rule.kind is FilterKind.WORDS:
                for word in rule.words:
                    words.setdefault(normalize(word), []).append(rule.rule_id)
            elif rule.kind is FilterKind.REGEX and rule.pattern is not None:
                regexes.append(flagged(rule.pattern, is_case_sensitive=rule.is_case_sensitive))
                self._regex_ids.append(rule.rule_id)
            else:
                self._others.append(rule)
                if rule.kind is FilterKind.DOMAINS:
                    self._domains[rule.rule_id] = frozenset(d.lower().strip(".") for d in rule.words)
        self._words = automaton(words)
        self._regex = regex_set(regexes)
        self.engine = self._regex
        """The RE2 set the regex rules run on (None without regex rules)."""

    def __len__(self) -> int:
        return len(self.rules)

    def check(  # noqa: C901 - one pass per kind of rule, kept side by side
        self, content: str, channel_id: int, role_ids: frozenset[int] = frozenset(), mentions: int = 0
    ) -> list[FilterHit]:
        """Every rule ``content`` breaks (in its scope), by rule ID."""
        if not self.rules:
            return []
        found: dict[int, list[str]] = {}
        if self._words is not None and content:
            text = normalize(content)
            for start, end, rule_ids in literal_hits(self._words, text):
                if at_word_bounds(text, start, end):
                    for rule_id in rule_ids:
                        found.setdefault(rule_id, []).append(text[start:end])
        if self._regex is not None and content:
            for index in self._regex.Match(content) or ():
                found.setdefault(self._regex_ids[index], [])
        for rule in self._others:
            detail = self._other(rule, content, mentions)
            if detail is not None:
                found[rule.rule_id] = detail
        hits = []
        for rule_id in sorted(found):
            rule = self.rules[rule_id]
            if rule.applies(channel_id, role_ids):
                hits.append(FilterHit(rule_id, rule.kind, rule.action, tuple(dict.fromkeys(found[rule_id]))))
        return hits

    def _other(self, rule: FilterRule, content: str, mentions: int) -> list[str] | None:
        """What a rule of the kinds without a shared scan catches in ``content``, or None."""
        threshold = rule.threshold or 0
        if rule.kind is FilterKind.MENTIONS:
            return [str(mentions)] if mentions >= threshold else None
        if rule.kind is FilterKind.CAPS:
            if content == content.lower():  # no capital at all: the common case, decided in C
                return None
            letters = sum(map(str.isalpha, content))
            upper = sum(map(str.isupper, content))
            caught = letters >= MIN_CAPS_LETTERS and upper * 100 >= threshold * letters
            return [f"{upper * 100 // letters}%"] if caught else None
        if rule.kind is FilterKind.INVITES:
            codes: list[Any] = _INVITE.findall(content) if "/" in content else []
            return [str(code) for code in codes] or None
        if rule.kind is FilterKind.DOMAINS:
            hosts = [str(h).lower().strip(".") for h in _HOST.findall(content)] if "://" in content else []
            listed = self._domains[rule.rule_id]
            bad = [h for h in hosts if _domain_listed(h, listed) != rule.is_allowlist]
            return bad or None
        return None
