"""A guild's autoresponder triggers compiled into one matcher: one scan of a message finds every trigger.

- ``exact``: the whole message (surrounding spaces ignored) is the trigger: one dict lookup;
- ``contains`` / ``starts_with`` / ``word``: every literal is a key of one
  Aho-Corasick automaton (one for case-sensitive triggers over the message as
  written, one for the others over its ``casefold``), so one pass over the
  message yields every occurrence of every literal; the position decides
  ``starts_with`` (at 0) and ``word`` (no letter, digit or ``_`` on either side);
- ``regex``: one RE2 set (``patterns.regex_set``), one linear-time scan.

Scope is checked on the hits only: ``channel_ids`` (empty: every channel),
``role_ids`` (empty: everyone; else the author needs one of them) and
``exempt_role_ids`` (an author with one of them never triggers it).
"""

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ahocorasick

from guildbase.matching.patterns import flagged, regex_set

__all__ = ["MatchType", "TriggerMatcher", "TriggerRule"]


class MatchType(enum.StrEnum):
    """How a trigger is compared with a message; the stored label is the value."""

    EXACT = "exact"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    WORD = "word"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class TriggerRule:
    """One trigger as the matcher needs it (built from an ``Autoresponder`` row)."""

    rule_id: int
    pattern: str
    match_type: MatchType
    is_case_sensitive: bool = False
    channel_ids: frozenset[int] = field(default_factory=frozenset)
    role_ids: frozenset[int] = field(default_factory=frozenset)
    exempt_role_ids: frozenset[int] = field(default_factory=frozenset)

    def applies(self, channel_id: int, role_ids: frozenset[int]) -> bool:
        """Whether the trigger may fire for an author with ``role_ids`` in ``channel_id``."""
        if self.channel_ids and channel_id not in self.channel_ids:
            return False
        if self.role_ids and self.role_ids.isdisjoint(role_ids):
            return False
        return not (self.exempt_role_ids and not self.exempt_role_ids.isdisjoint(role_ids))


def is_word_char(char: str) -> bool:
    """A letter, digit or underscore: what a whole-word trigger may not touch."""
    return char.isalnum() or char == "_"


def automaton(entries: dict[str, list[Any]]) -> Any:
    """An Aho-Corasick automaton whose keys are ``entries``' keys, valued ``(len(key), entries[key])``."""
    if not entries:
        return None
    built = ahocorasick.Automaton()
    for key, values in entries.items():
        built.add_word(key, (len(key), tuple(values)))
    built.make_automaton()
    return built


def literal_hits(found: Any, text: str) -> Iterable[tuple[int, int, Any]]:
    """``(start, end, value)`` for every occurrence of a key of ``found`` in ``text`` (end exclusive)."""
    if found is None:
        return ()
    return ((end + 1 - size, end + 1, values) for end, (size, values) in found.iter(text))


def at_word_bounds(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a whole word (no word character just before or after it)."""
    return (start == 0 or not is_word_char(text[start - 1])) and (end == len(text) or not is_word_char(text[end]))


class TriggerMatcher:
    """The compiled triggers of one guild; ``match`` returns the IDs that fire, lowest first."""

    def __init__(self, rules: Sequence[TriggerRule]) -> None:
        self.rules = {rule.rule_id: rule for rule in rules}
        exact: dict[str, list[int]] = {}
        literals: tuple[dict[str, list[tuple[int, MatchType]]], dict[str, list[tuple[int, MatchType]]]] = ({}, {})
        regexes: list[str] = []
        self._regex_ids: list[int] = []
        for rule in rules:
            pattern = rule.pattern if rule.is_case_sensitive else rule.pattern.casefold()
            if rule.match_type is MatchType.REGEX:
                regexes.append(flagged(rule.pattern, is_case_sensitive=rule.is_case_sensitive))
                self._regex_ids.append(rule.rule_id)
            elif rule.match_type is MatchType.EXACT:
                exact.setdefault(("s:" if rule.is_case_sensitive else "i:") + pattern.strip(), []).append(rule.rule_id)
            else:
                table = literals[0 if rule.is_case_sensitive else 1]
                table.setdefault(pattern, []).append((rule.rule_id, rule.match_type))
        self._exact = exact
        self._sensitive = automaton(literals[0])
        self._insensitive = automaton(literals[1])
        self._regex = regex_set(regexes)
        self.engine = self._regex
        """The RE2 set the regex triggers run on (None without regex triggers): what tests check the engine by."""

    def __len__(self) -> int:
        return len(self.rules)

    def match(self, content: str, channel_id: int, role_ids: frozenset[int] = frozenset()) -> list[int]:
        """The IDs of the triggers ``content`` fires for this author and channel, lowest first."""
        if not self.rules or not content:
            return []
        folded = content.casefold()
        hits: set[int] = set()
        if self._exact:
            hits.update(self._exact.get("s:" + content.strip(), ()))
            hits.update(self._exact.get("i:" + folded.strip(), ()))
        for text, found in ((content, self._sensitive), (folded, self._insensitive)):
            for start, end, values in literal_hits(found, text):
                for rule_id, kind in values:
                    if (
                        kind is MatchType.CONTAINS
                        or (kind is MatchType.STARTS_WITH and start == 0)
                        or (kind is MatchType.WORD and at_word_bounds(text, start, end))
                    ):
                        hits.add(rule_id)
        if self._regex is not None:
            hits.update(self._regex_ids[index] for index in self._regex.Match(content) or ())
        if not hits:
            return []
        return sorted(rule_id for rule_id in hits if self.rules[rule_id].applies(channel_id, role_ids))
