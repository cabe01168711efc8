"""Privacy cog (R10.2): a member gets a copy of their data by DM; the bot's owners erase a user.

- ``mydata``: the invoking user's export (``db.privacy.export``) as a JSON
  file in their DMs, so it is never posted in a server channel. A file over
  Discord's upload limit is not sent: the reply points at the CLI
  (``guildbase privacy export``), which has no such limit.
- ``privacyerase <user_id> [confirm]`` (owners only): without ``confirm`` it
  says what would happen; with it, the erase runs by every table's policy
  (docs/privacy.md) and the reply gives the rows per action. The erase is
  recorded with the owner as the requester, and audited. The command log
  keeps no arguments for it, so the erased ID does not come back through the log.
"""

import io

import discord
from discord.ext import commands

from guildbase import PrivacyRequestStatus
from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.db.validation import snowflake

UPLOAD_LIMIT = 8 * 1024 * 1024
"""Discord's smallest upload limit (servers without boosts, and DMs)."""


class PrivacyCog(GuildbaseCog, name="Privacy"):
    """Your data: a copy on request; erasure by the bot's owners."""

    @hybrid(name="mydata")
    async def my_data(self, ctx: Ctx) -> None:
        """Get everything the bot stores about you, as a JSON file in your DMs."""
        out = io.BytesIO()
        async for chunk in self.db.privacy.export(ctx.author.id, requested_by=ctx.author.id):
            out.write(chunk.text.encode())
        if out.tell() > UPLOAD_LIMIT:
            await ctx.send("Your data is larger than Discord lets me send: ask the bot's owners for a copy.")
            return
        out.seek(0)
        file = discord.File(out, filename=f"guildbase-{ctx.author.id}.json")
        try:
            await ctx.author.send("Everything I store about you:", file=file)
        except discord.Forbidden:
            await ctx.send("I could not DM you: allow DMs from server members, then ask again.")
            return
        await ctx.send("I sent you your data in a DM.")

    @hybrid(name="privacyerase", extras={"log_params": False})  # the log must not name the erased user again
    @commands.is_owner()
    async def erase(self, ctx: Ctx, user_id: str, confirm: str | None = None) -> None:
        """Erase a user's data everywhere, as docs/privacy.md says (owners only; add `confirm`)."""
        user = snowflake("user_id", int(user_id) if user_id.isdigit() else user_id)
        if confirm != "confirm":
            await ctx.send(
                f"This erases user {user} from every server: their rows are deleted or anonymised, "
                f"moderation cases and blacklist entries about them are kept. Repeat with `confirm` to do it."
            )
            return
        request = await self.db.privacy.erase(user, requested_by=ctx.author.id)
        actions: dict[str, int] = {}
        for table, counts in request.counts.items():
            if table != "redis":
                for action, rows in dict(counts).items():
                    actions[action] = actions.get(action, 0) + int(rows)
        done = ", ".join(f"{action}: {rows}" for action, rows in sorted(actions.items())) or "nothing to erase"
        state = "" if request.status is PrivacyRequestStatus.DONE else " (Redis not cleaned yet: run it again)"
        await ctx.send(f"User {user} erased{state}. Rows {done} (request {request.request_id}).")
