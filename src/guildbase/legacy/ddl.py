"""The previous schema's DDL (``LEGACY_SCHEMA.md``), in its two versions, for tests and the W11 benchmark.

The importer never runs this: it reads whatever it finds (``detect``). The
tests build a legacy database from it to prove the import against the real
shape, and the benchmark fills it with a million cases.

- ``PRISMA``: quoted PascalCase tables, naive ``timestamp(3)``,
  ``case_tempban_expired``.
- ``SQLMODEL``: the later version: snake-case tables, ``case_processed``
  instead of ``case_tempban_expired``, ``case_mod_log_message_id`` and a
  ``case_metadata`` JSON column on cases.
"""

CASE_TYPES = (
    "BAN",
    "UNBAN",
    "HACKBAN",
    "TEMPBAN",
    "KICK",
    "SNIPPETBAN",
    "TIMEOUT",
    "UNTIMEOUT",
    "WARN",
    "JAIL",
    "UNJAIL",
    "SNIPPETUNBAN",
    "UNTEMPBAN",
    "POLLBAN",
    "POLLUNBAN",
)

_PERM_LEVELS = ",\n".join(f"    perm_level_{n}_role_id BIGINT" for n in range(8))


def _ddl(names: dict[str, str], *, later: bool) -> str:
    g, c, k, n, s, r, a, lv, sb, sm = (
        names[t]
        for t in (
            "Guild",
            "GuildConfig",
            "Case",
            "Note",
            "Snippet",
            "Reminder",
            "AFKModel",
            "Levels",
            "Starboard",
            "SM",
        )
    )
    labels = ", ".join(f"'{label}'" for label in CASE_TYPES)
    processed = (
        "case_processed BOOLEAN NOT NULL DEFAULT false" if later else "case_tempban_expired BOOLEAN DEFAULT false"
    )
    extra = ",\n    case_mod_log_message_id BIGINT,\n    case_metadata JSONB" if later else ""
    return f"""
CREATE TYPE "CaseType" AS ENUM ({labels});
CREATE TABLE {g} (
    guild_id BIGINT PRIMARY KEY,
    guild_joined_at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
    case_count BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX ON {g} (guild_id);
CREATE TABLE {c} (
    guild_id BIGINT PRIMARY KEY REFERENCES {g} (guild_id),
    prefix TEXT,
    mod_log_id BIGINT, audit_log_id BIGINT, join_log_id BIGINT, private_log_id BIGINT,
    report_log_id BIGINT, dev_log_id BIGINT,
    jail_channel_id BIGINT, general_channel_id BIGINT, starboard_channel_id BIGINT,
{_PERM_LEVELS},
    base_staff_role_id BIGINT, base_member_role_id BIGINT, jail_role_id BIGINT, quarantine_role_id BIGINT
);
CREATE INDEX ON {c} (guild_id);
CREATE TABLE {k} (
    case_id BIGSERIAL PRIMARY KEY,
    case_status BOOLEAN DEFAULT true,
    case_type "CaseType" NOT NULL,
    case_reason TEXT,
    case_moderator_id BIGINT NOT NULL,
    case_user_id BIGINT NOT NULL,
    case_user_roles BIGINT[] DEFAULT '{{}}',
    case_number BIGINT,
    case_created_at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
    case_expires_at TIMESTAMP(3),
    {processed},
    guild_id BIGINT NOT NULL REFERENCES {g} (guild_id){extra}
);
CREATE UNIQUE INDEX ON {k} (case_number, guild_id);
CREATE INDEX ON {k} (case_number, guild_id);
CREATE INDEX ON {k} (guild_id, case_user_id);
CREATE INDEX ON {k} (guild_id, case_moderator_id);
CREATE INDEX ON {k} (guild_id, case_type);
CREATE INDEX ON {k} (case_created_at DESC);
CREATE TABLE {n} (
    note_id BIGSERIAL PRIMARY KEY,
    note_content TEXT,
    note_created_at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
    note_moderator_id BIGINT NOT NULL,
    note_user_id BIGINT NOT NULL,
    note_number BIGINT,
    guild_id BIGINT NOT NULL REFERENCES {g} (guild_id)
);
CREATE UNIQUE INDEX ON {n} (note_number, guild_id);
CREATE TABLE {s} (
    snippet_id BIGSERIAL PRIMARY KEY,
    snippet_name TEXT NOT NULL,
    snippet_content TEXT,
    snippet_user_id BIGINT NOT NULL,
    snippet_created_at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
    guild_id BIGINT NOT NULL REFERENCES {g} (guild_id),
    uses BIGINT NOT NULL DEFAULT 0,
    locked BOOLEAN NOT NULL DEFAULT false,
    alias TEXT
);
CREATE UNIQUE INDEX ON {s} (snippet_name, guild_id);
CREATE TABLE {r} (
    reminder_id BIGSERIAL PRIMARY KEY,
    reminder_content TEXT,
    reminder_created_at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
    reminder_expires_at TIMESTAMP(3) NOT NULL,
    reminder_channel_id BIGINT,
    reminder_user_id BIGINT NOT NULL,
    reminder_sent BOOLEAN NOT NULL DEFAULT false,
    guild_id BIGINT NOT NULL REFERENCES {g} (guild_id)
);
CREATE UNIQUE INDEX ON {r} (reminder_id, guild_id);
CREATE TABLE {a} (
    member_id BIGINT PRIMARY KEY,
    nickname TEXT,
    reason TEXT,
    since TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
    until TIMESTAMP(3),
    guild_id BIGINT NOT NULL REFERENCES {g} (guild_id),
    enforced BOOLEAN NOT NULL DEFAULT false,
    perm_afk BOOLEAN NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX ON {a} (member_id, guild_id);
CREATE TABLE {lv} (
    member_id BIGINT NOT NULL,
    xp DOUBLE PRECISION NOT NULL DEFAULT 0,
    level BIGINT NOT NULL DEFAULT 0,
    blacklisted BOOLEAN NOT NULL DEFAULT false,
    last_message TIMESTAMP(3),
    guild_id BIGINT NOT NULL REFERENCES {g} (guild_id),
    PRIMARY KEY (member_id, guild_id)
);
CREATE INDEX ON {lv} (member_id);
CREATE TABLE {sb} (
    guild_id BIGINT PRIMARY KEY REFERENCES {g} (guild_id),
    starboard_channel_id BIGINT NOT NULL,
    starboard_emoji TEXT NOT NULL,
    starboard_threshold INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE {sm} (
    message_id BIGINT PRIMARY KEY,
    message_content TEXT,
    message_created_at TIMESTAMP(3) DEFAULT CURRENT_TIMESTAMP,
    message_expires_at TIMESTAMP(3),
    message_channel_id BIGINT NOT NULL,
    message_user_id BIGINT NOT NULL,
    message_guild_id BIGINT NOT NULL REFERENCES {g} (guild_id),
    star_count INTEGER NOT NULL DEFAULT 0,
    starboard_message_id BIGINT
);
CREATE UNIQUE INDEX ON {sm} (message_id, message_guild_id);
"""


PRISMA_NAMES = {
    "Guild": '"Guild"',
    "GuildConfig": '"GuildConfig"',
    "Case": '"Case"',
    "Note": '"Note"',
    "Snippet": '"Snippet"',
    "Reminder": '"Reminder"',
    "AFKModel": '"AFKModel"',
    "Levels": '"Levels"',
    "Starboard": '"Starboard"',
    "SM": '"StarboardMessage"',
}
SQLMODEL_NAMES = {
    "Guild": "guild",
    "GuildConfig": "guild_config",
    "Case": "cases",
    "Note": "notes",
    "Snippet": "snippets",
    "Reminder": "reminders",
    "AFKModel": "afk",
    "Levels": "levels",
    "Starboard": "starboard",
    "SM": "starboard_message",
}

PRISMA = _ddl(PRISMA_NAMES, later=False)
SQLMODEL = _ddl(SQLMODEL_NAMES, later=True)
DDL = {"prisma": PRISMA, "sqlmodel": SQLMODEL}
TABLE_NAMES = {"prisma": PRISMA_NAMES, "sqlmodel": SQLMODEL_NAMES}
