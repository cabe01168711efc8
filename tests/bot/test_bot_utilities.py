"""Utility commands through discord.py's dispatch: encodings, conversions, colours and timestamps."""

import re

from harness import Harness


async def test_encode_and_decode_round_trip_through_the_bot(harness: Harness) -> None:
    await harness.say(harness.alice, "$encode base64 héllo world")
    assert harness.last_reply() == "```\naMOpbGxvIHdvcmxk\n```"
    await harness.say(harness.alice, "$decode base64 aMOpbGxvIHdvcmxk")
    assert harness.last_reply() == "```\nhéllo world\n```"
    await harness.slash(harness.alice, "encode", scheme="morse", text="sos")
    assert harness.last_reply() == "```\n... --- ...\n```"
    await harness.say(harness.alice, "$decode hex zz")
    assert "not hex" in harness.last_reply()


async def test_conversions_colours_and_timestamps(harness: Harness) -> None:
    await harness.say(harness.alice, "$convert 5 km mi")
    assert harness.last_reply() == "5 km = 3.10686 mi"
    await harness.say(harness.alice, "$convert 1 km kg")
    assert "cannot convert length" in harness.last_reply()
    await harness.say(harness.alice, "$color rgb(255, 136, 0)")
    assert "Hex: #ff8800" in harness.last_reply()
    assert harness.fake.sent[-1]["embeds"][0]["color"] == 0xFF8800
    await harness.say(harness.alice, "$timestamp 1700000000")
    assert "`<t:1700000000:R>` → <t:1700000000:R> (relative)" in harness.last_reply()
    await harness.say(harness.alice, "$timestamp now")
    assert re.search(r"<t:\d+:F>", harness.last_reply())
    await harness.say(harness.alice, "$timestamp someday")
    assert "is not a time" in harness.last_reply()
