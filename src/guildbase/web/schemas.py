"""The API's schemas: ``…Update`` inputs and ``…Public`` outputs, snowflakes as strings.

JSON numbers lose precision past 2^53 in JavaScript, and Discord IDs go past
it, so every ID is a string of digits on the wire (as Discord's own API does).
Inputs are checked again by the controllers (``GuildbaseError`` names the
field); these models shape the OpenAPI document and the JSON.
"""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from guildbase.models.audit import AuditLogRead
from guildbase.models.core import GuildConfigRead
from guildbase.models.moderation import CaseRead

__all__ = [
    "CHANNEL_FIELDS",
    "AuditPublic",
    "CasePublic",
    "CaseReasonUpdate",
    "ConfigPublic",
    "ConfigUpdate",
    "ErrorBody",
    "FeaturesPublic",
    "FeaturesUpdate",
    "GuildPublic",
    "MePublic",
]

SnowflakeIn = Annotated[str, Field(pattern=r"^[0-9]{15,20}$", description="A Discord snowflake, as a string.")]
SnowflakeOut = Annotated[int, PlainSerializer(str, return_type=str, when_used="json")]

CHANNEL_FIELDS = (
    "mod_log_channel_id",
    "audit_log_channel_id",
    "join_log_channel_id",
    "private_log_channel_id",
    "report_log_channel_id",
    "dev_log_channel_id",
    "jail_channel_id",
    "general_channel_id",
    "welcome_channel_id",
)
ROLE_FIELDS = ("jail_role_id", "quarantine_role_id", "base_staff_role_id", "base_member_role_id")


class FieldProblem(BaseModel):
    """One broken rule: which field, which rule, and what to do."""

    field: str
    rule: str
    message: str


class ErrorBody(BaseModel):
    """Every error the API answers: a status, a message, and the fields at fault (possibly none)."""

    status: int
    error: str
    fields: list[FieldProblem] = Field(default_factory=list)


class MePublic(BaseModel):
    """The logged-in user."""

    user_id: str
    username: str
    csrf_token: str


class GuildPublic(BaseModel):
    """A guild the user may manage (the bot is in it)."""

    guild_id: str
    name: str
    is_admin: bool


class ConfigPublic(BaseModel):
    """A guild's settings."""

    guild_id: str
    prefix: str
    extra_prefixes: list[str]
    locale: str
    welcome_message: str | None
    channels: dict[str, str | None]
    roles: dict[str, str | None]
    updated_at: datetime

    @classmethod
    def of(cls, config: GuildConfigRead) -> "ConfigPublic":
        """From the controller's read model."""

        def text(value: int | None) -> str | None:
            return None if value is None else str(value)

        return cls(
            guild_id=str(config.guild_id),
            prefix=config.prefix,
            extra_prefixes=config.extra_prefixes,
            locale=config.locale,
            welcome_message=config.welcome_message,
            channels={name: text(getattr(config, name)) for name in CHANNEL_FIELDS},
            roles={name: text(getattr(config, name)) for name in ROLE_FIELDS},
            updated_at=config.updated_at,
        )


class ConfigUpdate(BaseModel):
    """A partial settings change: only the fields given are written; ``null`` clears a channel or role."""

    model_config = ConfigDict(extra="forbid")

    prefix: str | None = Field(default=None, max_length=200)
    locale: str | None = Field(default=None, max_length=200)
    welcome_message: str | None = Field(default=None, max_length=10_000)
    mod_log_channel_id: SnowflakeIn | None = None
    audit_log_channel_id: SnowflakeIn | None = None
    join_log_channel_id: SnowflakeIn | None = None
    welcome_channel_id: SnowflakeIn | None = None
    general_channel_id: SnowflakeIn | None = None
    jail_role_id: SnowflakeIn | None = None
    base_staff_role_id: SnowflakeIn | None = None

    def changes(self) -> dict[str, Any]:
        """The fields set, IDs as integers, for ``GuildConfigController.update``."""
        given = self.model_dump(exclude_unset=True)
        return {
            name: int(value) if name.endswith("_id") and value is not None else value for name, value in given.items()
        }


class FeaturesPublic(BaseModel):
    """Every feature toggle and whether it is on."""

    features: dict[str, bool]


class FeaturesUpdate(BaseModel):
    """Toggles to change (feature name → on/off)."""

    model_config = ConfigDict(extra="forbid")

    features: dict[str, bool] = Field(max_length=50)


class CasePublic(BaseModel):
    """A moderation case."""

    number: int
    type: str
    status: str
    user_id: str
    moderator_id: str
    reason: str | None
    expires_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, case: CaseRead) -> "CasePublic":
        """From the controller's read model."""
        return cls(
            number=case.number,
            type=str(case.type),
            status=str(case.status),
            user_id=str(case.user_id),
            moderator_id=str(case.moderator_id),
            reason=case.reason,
            expires_at=case.expires_at,
            created_at=case.created_at,
        )


class CaseReasonUpdate(BaseModel):
    """A case's new reason (``null`` clears it)."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(max_length=5000)


class AuditPublic(BaseModel):
    """One audit row of a guild."""

    audit_id: int
    created_at: datetime
    actor_id: str | None
    source: str | None
    action: str
    entity_type: str
    entity_id: str
    before: dict[str, Any]
    after: dict[str, Any]

    @classmethod
    def of(cls, row: AuditLogRead) -> "AuditPublic":
        """From the controller's read model."""
        return cls(
            audit_id=row.audit_id,
            created_at=row.created_at,
            actor_id=None if row.actor_id is None else str(row.actor_id),
            source=None if row.source is None else str(row.source),
            action=str(row.action),
            entity_type=str(row.entity_type),
            entity_id=row.entity_id,
            before=row.before,
            after=row.after,
        )
