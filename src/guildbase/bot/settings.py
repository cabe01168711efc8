"""``BotSettings``: the data layer's ``Settings`` plus what the reference bot needs.

A subclass, so the bot runs on exactly the same ``GUILDBASE_*`` variables
(and ``.env``) as ``guildbase db …`` and ``guildbase jobs run``; a data-layer
user never sees these fields. The token is read from ``DISCORD_TOKEN`` (the
name every discord.py guide uses) or ``GUILDBASE_DISCORD_TOKEN``.
"""

from typing import Annotated, Any

import discord
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from guildbase.config import Settings

DEFAULT_INTENTS = (
    "guilds",
    "members",
    "messages",
    "message_content",
    "reactions",
    "voice_states",
    "invites",
    "emojis_and_stickers",
)
"""Guild and member events, messages with their text (prefix commands, AFK, XP), reactions (starboard,
bookmarks), and for the event trail voice states, invites and emoji/sticker changes."""


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class BotSettings(Settings):
    """Everything ``guildbase bot`` reads; each field is ``GUILDBASE_<NAME>`` unless said otherwise."""

    discord_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DISCORD_TOKEN", "GUILDBASE_DISCORD_TOKEN"),
        description="The bot token (DISCORD_TOKEN or GUILDBASE_DISCORD_TOKEN).",
    )
    owner_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Discord user IDs allowed to run owner commands (blacklist), comma-separated."
    )
    bot_intents: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_INTENTS),
        description="Gateway intents by discord.py flag name, comma-separated.",
    )
    bot_default_prefix: str = Field(
        default="$", min_length=1, max_length=10, description="Prefix in DMs and before a guild is recorded."
    )
    discord_api_url: str | None = Field(
        default=None, description="Discord REST base URL (tests point it at a local fake); unset: discord.com."
    )
    discord_gateway_url: str | None = Field(
        default=None, description="Discord gateway URL (tests point it at a local fake); unset: gateway.discord.gg."
    )
    bot_shard_count: int | None = Field(default=None, ge=1, description="Total shards; unset: Discord's advice.")
    bot_shard_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Shards this process runs (split shards across processes); unset: all."
    )
    bot_run_jobs: bool = Field(
        default=True, description="Run the job worker (tempban expiry, reminders, AFK expiry) inside the bot."
    )

    @field_validator("owner_ids", "bot_intents", "bot_shard_ids", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("bot_intents")
    @classmethod
    def _known_intents(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(discord.Intents.VALID_FLAGS))
        if unknown:
            msg = f"unknown intents {unknown}; use discord.py flag names such as members, message_content"
            raise ValueError(msg)
        return value

    @field_validator("discord_api_url")
    @classmethod
    def _api_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            msg = f"expected an http(s):// URL such as https://discord.com/api/v10, got {value!r}"
            raise ValueError(msg)
        return None if value is None else value.rstrip("/")

    @field_validator("discord_gateway_url")
    @classmethod
    def _gateway_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("ws://", "wss://")):
            msg = f"expected a ws(s):// URL such as wss://gateway.discord.gg/, got {value!r}"
            raise ValueError(msg)
        return value

    def intents(self) -> discord.Intents:
        """The configured intents as a ``discord.Intents``."""
        return discord.Intents(**dict.fromkeys(self.bot_intents, True))
