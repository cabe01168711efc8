"""Ticket metrics (R12.4): daily rollups kept by upsert as tickets change, and the report models.

Reports read these rows, never the tickets: volume per day, panel and staff member, and duration
histograms (25 %-wide buckets) from which medians and p90 come.
"""

from datetime import date

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    SmallInteger,
)
from sqlmodel import Field, SQLModel

from guildbase.db.types import Snowflake, pg_enum, snowflake_field
from guildbase.models.core import GUILD_FK
from guildbase.models.tickets import (
    DurationMetric,
)
from guildbase.privacy.policy import anonymise, personal_data


# -- rollups ----------------------------------------------------------------------------
class TicketDaily(SQLModel, table=True):
    """Per day, panel and staff member (0: none): tickets opened, closed, reopened, first responses, ratings."""

    __tablename__ = "ticket_daily"

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    day: date = Field(primary_key=True, sa_type=Date)
    panel_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    staff_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    opened: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})
    closed: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})
    reopened: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})
    first_responses: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})
    ratings: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})
    rating_sum: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})


class TicketDailyDuration(SQLModel, table=True):
    """Per day, panel and metric: how many durations fell in each log-scale bucket.

    No staff dimension: the report gives durations per guild or panel, and a
    per-staff histogram would multiply the rows a period's report sums by the
    number of staff members.
    """

    __tablename__ = "ticket_daily_duration"

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    day: date = Field(primary_key=True, sa_type=Date)
    panel_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    metric: DurationMetric = Field(primary_key=True, sa_type=pg_enum(DurationMetric, "ticket_duration_metric"))
    bucket: int = Field(primary_key=True, sa_type=SmallInteger, sa_column_kwargs={"autoincrement": False})
    count: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})


class DurationStats(BaseModel):
    model_config = {"frozen": True}

    count: int
    median_seconds: float | None
    p90_seconds: float | None


class TicketMetrics(BaseModel):
    """A period's metrics (``db.tickets.metrics``); durations are read from the histogram (±12 %)."""

    model_config = {"frozen": True}

    first_day: date
    last_day: date
    opened: int
    closed: int
    reopened: int
    per_day: dict[date, tuple[int, int]]
    """day → (opened, closed)."""
    per_panel: dict[int, tuple[int, int]]
    """panel → (opened, closed)."""
    per_staff: dict[int, tuple[int, int]]
    """staff member → (tickets closed, first responses)."""
    first_response: DurationStats
    resolution: DurationStats
    backlog: int
    """Tickets not closed at the end of ``last_day``."""
    ratings: int
    average_rating: float | None


# -- personal data (R10.2) --------------------------------------------------------------
personal_data(
    TicketDaily,
    "Daily ticket counts per staff member; an erased member's counts fold into the anonymous row.",
    retention="while the guild keeps its metrics",
    not_user={"panel_id": "the panel"},
    staff_id=anonymise(fold=("opened", "closed", "reopened", "first_responses", "ratings", "rating_sum")),
)

personal_data(
    TicketDailyDuration,
    "Daily ticket duration histograms per panel (no member).",
    retention="while the guild keeps its metrics",
    not_user={"panel_id": "the panel"},
)
