"""The hand-kept part of the bad-input sweep: a valid sample per parameter whose annotation says too little.

``INTS`` gives a valid sample and the smallest valid value of a named integer
(``controller.method.name`` wins over the name alone); ``NAMED`` a valid
sample of any other parameter. ``test_bad_input.py`` derives every bad value
from these and from the annotations.
"""

import io
from datetime import timedelta
from typing import Any

from guildbase.db.types import make_snowflake, utcnow
from guildbase.models.events import InviteState, VoiceState
from guildbase.models.jobs import JobRead
from guildbase.models.levels import XPAward
from guildbase.models.moderation import CaseCreate
from guildbase.models.tickets import TicketRead

NOW = utcnow()
ID = make_snowflake(NOW - timedelta(days=30))
BIG = 2**63

INTS: dict[str, tuple[int, int]] = {
    # name: (a valid sample, the smallest valid value); every other ``int`` named ``…_id`` is a snowflake
    "limit": (5, 1),
    "count": (5, 1),
    "radius": (1, 0),
    "number": (1, 1),
    "level": (5, 1),
    "xp": (100, 0),
    "attempt": (1, 1),
    "attempts": (1, 1),
    "max_attempts": (3, 1),
    "days": (7, 1),
    "months_ahead": (1, 0),
    "reminder_id": (1, 1),
    "job_id": (1, 1),
    "before": (1, 1),
    "shard_id": (0, 0),
    "warn_count": (3, 2),
    "interval_seconds": (900, 60),
    "integration_id": (1, 1),
    "panel_id": (1, 1),
    "stars": (5, 1),
    "key_id": (1, 1),
    "api_key_id": (1, 1),
    "batch_size": (100, 1),
    "premium.set_tier.rank": (10, 1),  # a tier's rank starts at 1 (0 is "no tier")
    "subscription_id": (1, 1),
    "amount_minor": (100, 0),
    "required_rank": (5, 0),
    "cooldown_seconds": (0, 0),
    "rank": (0, 0),
    "position": (1, 1),
    "autoresponder_id": (1, 1),
    "filter_id": (1, 1),
    "threshold": (5, 1),
    "seconds": (10, 0),
    "mentions": (0, 0),
    "rank_value": (3, 0),
    "rule_id": (1, 1),
    "bucket_seconds": (60, 1),
    "retention_months": (3, 1),
}

_JOB = JobRead.model_validate(
    {
        "job_id": 1,
        "kind": "demo",
        "run_at": NOW,
        "payload": {},
        "max_attempts": 3,
        "status": "running",
        "attempts": 1,
        "last_error": None,
        "locked_until": NOW + timedelta(minutes=5),
        "locked_by": "worker",
        "finished_at": None,
        "guild_id": None,
        "user_id": None,
        "case_id": None,
        "reminder_id": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
)

EMPTY_ALLOWED = {"attachment_urls"}
"""List parameters for which an empty list is a valid value (a message with no attachments), not a bad one."""

NAMED: dict[str, Any] = {
    # name: a valid sample, for parameters whose annotation does not say enough
    "pattern": "hello",
    "responses": ["hi"],
    "guild_name": "Guild",
    "words": ["bad"],
    "regex": "ba+d",
    "domains": ["example.com"],
    "overwrites": [{"id": ID, "type": 0, "allow": 0, "deny": 0}],
    "locked_at": NOW,
    "prefix": "!",
    "reason": "spam",
    "content": "hello",
    "name": "Guild",
    "nickname": "away",
    "command": "ping",
    "error": "boom",
    "worker": "worker-1",
    "kind": "demo",
    "kinds": ["demo"],
    "dedupe_key": "key",
    "now": NOW,
    "since": NOW - timedelta(hours=1),
    "until": NOW + timedelta(hours=1),
    "expires_at": NOW + timedelta(hours=1),
    "remind_at": NOW + timedelta(hours=1),
    "run_at": NOW + timedelta(hours=1),
    "joined_at": NOW,
    "created_at": NOW,
    "cutoff": (NOW - timedelta(days=400)).date(),
    "multiplier": 1.5,
    "roll": 0.5,
    "duration_ms": 12,
    "every": timedelta(minutes=5),
    "job": _JOB,
    "jobs": [_JOB],
    "award": XPAward(awarded_xp=10, xp=10, level=0),
    "checked": CaseCreate(guild_id=ID, user_id=ID, moderator_id=ID, type="WARN"),
    "rows": [],
    "changes": None,
    "exc": RuntimeError("boom"),
    "error_id": "a1b2c3d4",
    "fingerprint": "0" * 32,
    "entity_id": 1,
    "emoji": "⭐",
    "code": "abc123",
    "url": "https://example.org/feed.xml",
    "source": "feed",
    "webhook_url": None,
    "github_token": None,
    "post": None,
    "table": "guild_event",
    "out": io.StringIO(),
    "invite": InviteState(code="abc123", uses=1),
    "invites": [InviteState(code="abc123", uses=1)],
    "states": [VoiceState(user_id=ID, channel_id=ID)],
    "label": "Support",
    "subject": "help",
    "attachment_urls": ["https://cdn.example/a.png"],
    "first_day": (NOW - timedelta(days=2)).date(),
    "last_day": (NOW - timedelta(days=1)).date(),
    "ticket": TicketRead.model_validate(
        {
            "ticket_id": 1,
            "guild_id": ID,
            "number": 1,
            "panel_id": 1,
            "channel_id": None,
            "opener_id": ID,
            "subject": None,
            "priority": "normal",
            "status": "open",
            "answers": {},
            "claimed_by": None,
            "assignee_id": None,
            "opened_at": NOW,
            "first_response_at": None,
            "last_message_at": None,
            "message_count": 0,
            "staff_message_count": 0,
            "close_requested_at": None,
            "close_requested_by": None,
            "close_at": None,
            "closed_at": None,
            "closed_by": None,
            "close_reason": None,
            "rating": None,
            "rating_comment": None,
            "rated_at": None,
        }
    ),
    "ip": "203.0.113.7",
    "detail": {"page": "moderation"},
    "token": "gb_" + "0" * 12 + "_" + "x" * 43,
    "actions": ["cases:read"],
    "scopes": ["identify"],
    "access_token": "access",
    "refresh_token": "refresh",
    "tier_id": "pro",
    "features": ["custom_embeds"],
    "feature": "custom_embeds",
    "deadline": NOW + timedelta(hours=1),
    "entitlement": {"id": str(ID), "sku_id": str(ID), "guild_id": str(ID)},
    "entitlements": [],
    "provider": "stripe",
    "provider_ref": "pi_1",
    "currency": "EUR",
    "alias": "help",
    "template": "Hi {1}",
    "args": "bob",
    "question": "Lunch?",
    "options": ["pizza", "sushi"],
    "commands": {"ping": "Config"},
    "role_ranks": {ID: 3},
    "target_name": "ping",
    "module": "Config",
}
CUT_TO_FIT = {"error"}
