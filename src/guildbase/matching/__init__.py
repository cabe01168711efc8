"""Compiled matching for the per-message features (autoresponders R15.2, message filters R15.4).

Every message of a busy guild is matched against hundreds of user-written
rules, so the rules of a guild are compiled once into one matcher and each
message is scanned in one pass: literals through one Aho-Corasick automaton
(``pyahocorasick``), regular expressions through one RE2 set (``google-re2``,
linear time in the input, so no pattern can backtrack catastrophically).
Patterns from users are checked by ``patterns.check_regex`` before they are
stored: bounded length, bounded compiled size (RE2's ``max_mem``), and RE2's
syntax (no backreferences or lookaround, the features that need backtracking).
"""

from guildbase.matching.filters import FilterHit, FilterMatcher, FilterRule
from guildbase.matching.normalize import normalize
from guildbase.matching.patterns import MAX_PATTERN_LENGTH, REGEX_MAX_MEM, check_regex
from guildbase.matching.triggers import MatchType, TriggerMatcher, TriggerRule

__all__ = [
    "MAX_PATTERN_LENGTH",
    "REGEX_MAX_MEM",
    "FilterHit",
    "FilterMatcher",
    "FilterRule",
    "MatchType",
    "TriggerMatcher",
    "TriggerRule",
    "check_regex",
    "normalize",
]
