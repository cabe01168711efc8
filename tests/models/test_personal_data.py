"""Personal data is kept to what the bot needs (R10.3): IDs, never names, avatars or contact details.

Discord hands the bot a user's name, avatar and (with OAuth) e-mail on every
event; storing them would make every table a copy to keep fresh and to erase.
The check runs over every column of every table, so a new model is covered.
"""

import re

from guildbase.models import metadata

PROFILE_COLUMN = re.compile(
    r"(^|_)(user_?name|display_name|global_name|nick_?name|discriminator|avatar|banner|e_?mail|phone|ip(_address)?|locale)$"
)
ALLOWED = {
    ("guild", "name"): "the server's own name, shown on the dashboard; not a person's data",
    ("guild_config", "locale"): "the server's language setting",
    ("afk", "nickname"): "the nickname the bot itself set (AFK prefix) and must restore; erased with the AFK",
    ("api_key", "name"): 'the label an admin gives a key ("ci bot"), not a person\'s data',
    ("integration", "name"): 'the name an admin gives a feed ("news"), not a person\'s data',
    ("premium_tier", "name"): "a tier's display name (\"Pro\"), not a person's data",
    ("security_event", "ip"): "where a login or an API call came from, for investigations (R10.4); kept for the "
    "trail's retention (SECURITY_RETENTION_MONTHS), then its partition is dropped",
    ("snippet_name", "name"): "a snippet's name or alias, chosen by the server (like `faq`); not a person's data",
    ("custom_command", "name"): "a custom command's name, chosen by the server; not a person's data",
    ("permission_rank", "name"): "the name a server gives one of its permission ranks (Moderator), not a person's",
    ("permission_command_rank", "name"): "a command's or module's name",
    ("bot_command", "name"): "a command's qualified name, from the bot's own command tree",
}
"""Columns that match the pattern on purpose, and why each is not stored profile data."""


def test_no_table_stores_names_avatars_or_contact_details_of_users() -> None:
    found = {
        (table.name, column.name)
        for table in metadata.tables.values()
        for column in table.columns
        if PROFILE_COLUMN.search(column.name) or column.name == "name"
    }
    assert found == set(ALLOWED)


def test_a_discord_user_row_holds_only_the_id_whether_it_is_a_bot_and_its_timestamps() -> None:
    assert set(metadata.tables["discord_user"].c.keys()) == {"user_id", "is_bot", "created_at", "updated_at"}
