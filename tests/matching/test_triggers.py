"""Trigger matching: every match type, case, scope, and one answer per trigger from one scan."""

from guildbase.matching.triggers import MatchType, TriggerMatcher, TriggerRule

CHANNEL, OTHER_CHANNEL, ROLE, EXEMPT = 11, 12, 21, 22


def test_each_match_type_fires_where_it_should() -> None:
    matcher = TriggerMatcher(
        [
            TriggerRule(1, "hello", MatchType.WORD),
            TriggerRule(2, "Hi", MatchType.EXACT, is_case_sensitive=True),
            TriggerRule(3, r"\bping\d+", MatchType.REGEX),
            TriggerRule(4, "!help", MatchType.STARTS_WITH),
            TriggerRule(5, "cat", MatchType.CONTAINS),
        ]
    )
    assert matcher.match("HELLO there", CHANNEL) == [1]
    assert matcher.match("othello", CHANNEL) == []  # not a whole word
    assert matcher.match("  Hi ", CHANNEL) == [2]
    assert matcher.match("hi", CHANNEL) == []  # case-sensitive exact
    assert matcher.match("ping42 and concatenate", CHANNEL) == [3, 5]
    assert matcher.match("!help me", CHANNEL) == [4]
    assert matcher.match("say !help", CHANNEL) == []  # not at the start


def test_scope_limits_channels_and_roles_and_exempts_roles() -> None:
    matcher = TriggerMatcher(
        [
            TriggerRule(1, "hey", MatchType.CONTAINS, channel_ids=frozenset({CHANNEL})),
            TriggerRule(2, "hey", MatchType.WORD, role_ids=frozenset({ROLE})),
            TriggerRule(3, "hey", MatchType.EXACT, exempt_role_ids=frozenset({EXEMPT})),
        ]
    )
    assert matcher.match("hey", CHANNEL) == [1, 3]
    assert matcher.match("hey", OTHER_CHANNEL, frozenset({ROLE})) == [2, 3]
    assert matcher.match("hey", CHANNEL, frozenset({ROLE, EXEMPT})) == [1, 2]


def test_case_sensitive_and_insensitive_literals_share_one_scan() -> None:
    matcher = TriggerMatcher(
        [TriggerRule(1, "Bot", MatchType.CONTAINS, is_case_sensitive=True), TriggerRule(2, "bot", MatchType.CONTAINS)]
    )
    assert matcher.match("the Bot", CHANNEL) == [1, 2]
    assert matcher.match("the BOT", CHANNEL) == [2]
    assert matcher.match("", CHANNEL) == []
    assert TriggerMatcher([]).match("anything", CHANNEL) == []
