"""The rules a user-written regular expression must pass, and the one way to compile it (RE2).

RE2 runs in time linear in the input whatever the pattern, so ``(a+)+$`` on a
100 KB message costs one scan, not an exponential search; what it cannot bound
is the size of the compiled program, so ``max_mem`` caps it and a pattern whose
program would be larger is refused. Backreferences and lookaround, which only a
backtracking engine can run, are syntax errors in RE2 and refused the same way.
"""

from typing import Any

import re2

from guildbase.db.validation import text
from guildbase.errors import ValidationError, shown

__all__ = ["MAX_PATTERN_LENGTH", "REGEX_MAX_MEM", "check_regex", "options", "regex_set"]

MAX_PATTERN_LENGTH = 300
"""Longest pattern (or literal trigger) accepted, in characters."""
REGEX_MAX_MEM = 256 * 1024
"""Memory RE2 may use for one compiled pattern, in bytes: a bigger program is refused, never built."""
SET_BASE_MEM = 8 * 1024 * 1024
"""Memory a set starts with; each pattern adds twice ``REGEX_MAX_MEM``, so stored patterns always fit together."""


def options(max_mem: int = REGEX_MAX_MEM, *, capture: bool = False) -> Any:
    """RE2 options for user patterns: bounded memory, no capture groups, no error spam on stderr."""
    opts = re2.Options()
    opts.max_mem = max_mem
    opts.log_errors = False
    opts.never_capture = not capture
    return opts


def check_regex(field: str, pattern: object, *, is_case_sensitive: bool = True) -> str:
    """``pattern`` if RE2 compiles it within the limits; else a ValidationError naming ``field``."""
    pattern = text(field, pattern, min_length=1, max_length=MAX_PATTERN_LENGTH)
    try:
        compiled = re2.compile(flagged(pattern, is_case_sensitive=is_case_sensitive), options())
    except re2.error as error:
        reason = error.args[0].decode() if error.args and isinstance(error.args[0], bytes) else str(error)
        msg = f"must be an RE2 regular expression within {REGEX_MAX_MEM // 1024} KiB ({reason}), got {shown(pattern)}"
        raise ValidationError.single(field, "regex", msg) from None
    if compiled.search("") is not None:
        msg = f"must not match an empty message (it would fire on everything), got {shown(pattern)}"
        raise ValidationError.single(field, "regex", msg)
    return pattern


def flagged(pattern: str, *, is_case_sensitive: bool) -> str:
    """The pattern with its case flag inline, so one set holds both kinds."""
    return pattern if is_case_sensitive else f"(?i:{pattern})"


def regex_set(patterns: list[str]) -> Any:
    """One RE2 search set over ``patterns`` (already flagged and checked); None when there are none.

    ``Match(text)`` returns the indices of every pattern found in ``text`` in one scan.
    """
    if not patterns:
        return None
    compiled = re2.Set.SearchSet(options(SET_BASE_MEM + 2 * REGEX_MAX_MEM * len(patterns)))
    for pattern in patterns:
        compiled.Add(pattern)
    compiled.Compile()
    return compiled
