"""User patterns cannot hang the bot: RE2 is the engine, and what it cannot bound is refused before storing."""

import pytest
import re2

from guildbase.errors import ValidationError
from guildbase.matching import MAX_PATTERN_LENGTH, REGEX_MAX_MEM, FilterMatcher, TriggerMatcher, check_regex
from guildbase.matching.filters import FilterAction, FilterKind, FilterRule
from guildbase.matching.triggers import MatchType, TriggerRule

CATASTROPHIC = "(a+)+$"
HUNDRED_KB = "a" * 100_000 + "!"  # the classic ReDoS input: a long run that fails at its very end


def test_a_catastrophic_backtracking_pattern_is_accepted_and_runs_on_re2() -> None:
    assert check_regex("pattern", CATASTROPHIC) == CATASTROPHIC
    matcher = TriggerMatcher([TriggerRule(1, CATASTROPHIC, MatchType.REGEX)])
    assert isinstance(matcher.engine, re2.Set)  # linear time in the input: RE2 never backtracks
    assert matcher.match(HUNDRED_KB, channel_id=1) == []
    assert matcher.match(HUNDRED_KB[:-1], channel_id=1) == [1]


def test_a_catastrophic_filter_regex_on_100_kb_is_one_linear_scan() -> None:
    rule = FilterRule(7, FilterKind.REGEX, FilterAction.DELETE, pattern=CATASTROPHIC)
    matcher = FilterMatcher([rule])
    assert isinstance(matcher.engine, re2.Set)
    assert matcher.check(HUNDRED_KB, channel_id=1) == []
    assert [hit.rule_id for hit in matcher.check(HUNDRED_KB[:-1], channel_id=1)] == [7]


@pytest.mark.parametrize(
    ("pattern", "rule"),
    [
        ("(x", "regex"),  # invalid
        (r"(a)\1", "regex"),  # a backreference needs backtracking: not RE2 syntax
        ("(?=a)b", "regex"),  # lookahead, the same
        (r"\pL{1000}", "regex"),  # compiles past REGEX_MAX_MEM: oversized
        (".{1000}.{1000}", "regex"),  # oversized
        ("a" * (MAX_PATTERN_LENGTH + 1), "length"),  # too long to store
        ("", "length"),
        ("a*", "regex"),  # matches the empty message: would fire on everything
    ],
)
def test_invalid_and_oversized_patterns_are_refused_by_name(pattern: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_regex("pattern", pattern)
    assert caught.value.fields == ["pattern"]
    assert caught.value.errors[0].rule == rule


def test_the_memory_bound_is_what_refuses_big_programs() -> None:
    small = re2.Options()
    small.max_mem = REGEX_MAX_MEM
    small.log_errors = False
    with pytest.raises(re2.error):
        re2.compile(".{1000}.{1000}", small)
    roomy = re2.Options()
    roomy.max_mem = 32 * REGEX_MAX_MEM
    roomy.log_errors = False
    assert re2.compile(".{1000}.{1000}", roomy) is not None  # the same pattern, refused only because of the bound
