"""Filter matching: evasions folded, invites, domains, mentions, caps, and exemptions."""

import pytest

from guildbase.matching.filters import FilterAction, FilterKind, FilterMatcher, FilterRule
from guildbase.matching.normalize import normalize

CHANNEL, EXEMPT_CHANNEL, EXEMPT_ROLE = 11, 12, 22


@pytest.mark.parametrize(
    "evasion",
    ["bad", "BAD", "Baaaaad", "ｂａｄ", "bаd", "b\u200bad", "b@d", "𝐛𝐚𝐝", "bäd"],  # noqa: RUF001 - look-alikes on purpose
)
def test_word_lists_see_through_case_confusables_and_repeats(evasion: str) -> None:
    matcher = FilterMatcher([FilterRule(1, FilterKind.WORDS, FilterAction.DELETE, words=("bad",))])
    assert normalize(evasion) == "bad"
    assert [hit.rule_id for hit in matcher.check(f"so {evasion}!", CHANNEL)] == [1]


def test_words_count_at_word_bounds_only() -> None:
    matcher = FilterMatcher([FilterRule(1, FilterKind.WORDS, FilterAction.DELETE, words=("ass",))])
    assert matcher.check("first class", CHANNEL) == []
    assert matcher.check("you ass", CHANNEL)[0].detail == ("as",)  # stored collapsed, like the message


def test_invites_domains_mentions_and_caps() -> None:
    matcher = FilterMatcher(
        [
            FilterRule(1, FilterKind.INVITES, FilterAction.DELETE),
            FilterRule(2, FilterKind.DOMAINS, FilterAction.LOG, words=("evil.com",)),
            FilterRule(3, FilterKind.DOMAINS, FilterAction.LOG, words=("good.org",), is_allowlist=True),
            FilterRule(4, FilterKind.MENTIONS, FilterAction.TIMEOUT, threshold=5),
            FilterRule(5, FilterKind.CAPS, FilterAction.WARN, threshold=70),
        ]
    )
    hits = {hit.rule_id: hit.detail for hit in matcher.check("join discord.gg/abc-1 https://x.evil.com/a", CHANNEL)}
    assert hits == {1: ("abc-1",), 2: ("x.evil.com",), 3: ("x.evil.com",)}
    assert matcher.check("see https://docs.good.org/page", CHANNEL) == []
    assert [h.rule_id for h in matcher.check("hi all", CHANNEL, mentions=5)] == [4]
    assert [h.rule_id for h in matcher.check("WHY IS EVERYTHING BROKEN", CHANNEL)] == [5]
    assert matcher.check("OK LOL", CHANNEL) == []  # too short to be shouting


def test_exempt_channels_and_roles_skip_a_rule() -> None:
    rule = FilterRule(
        1,
        FilterKind.WORDS,
        FilterAction.DELETE,
        words=("bad",),
        exempt_channel_ids=frozenset({EXEMPT_CHANNEL}),
        exempt_role_ids=frozenset({EXEMPT_ROLE}),
    )
    matcher = FilterMatcher([rule])
    assert matcher.check("bad", EXEMPT_CHANNEL) == []
    assert matcher.check("bad", CHANNEL, frozenset({EXEMPT_ROLE})) == []
    assert len(matcher.check("bad", CHANNEL)) == 1
