"""Premium cog (R16): status, the benefits list, redeeming keys, entitlement events and command gating.

- ``premium`` shows the server's and the member's tier and subscriptions;
  ``benefits`` lists what they give; ``redeem`` turns a key into a subscription
  (for yourself, or for the server with Manage Server).
- Discord's ENTITLEMENT_CREATE / UPDATE / DELETE arrive through discord.py's
  ``on_entitlement_*`` listeners and go straight to ``db.premium``'s handlers,
  stamped with the moment they arrived (the handlers order events by it);
  ``premiumsync`` (bot owners) fetches the application's entitlements and
  reconciles the stored subscriptions against them.
- ``premium_feature(name)`` gates a command: on a slash command the
  interaction's own entitlements (discord.py's ``Interaction.entitlements``)
  are checked first, with no database at all; otherwise ``db.premium.require``,
  whose cached check costs no SQL, decides, and the refusal names the tier.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

import discord
from discord.ext import commands

from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.bot.errors import BlockedError
from guildbase.bot.ui import embed
from guildbase.db.types import utcnow
from guildbase.errors import PremiumRequiredError
from guildbase.models.premium import Benefits, SubscriptionRead

T = TypeVar("T")


def as_payload(entitlement: discord.Entitlement) -> dict[str, Any]:
    """The fields of a discord.py ``Entitlement`` that ``db.premium``'s handlers read."""
    return {
        "id": entitlement.id,
        "sku_id": entitlement.sku_id,
        "user_id": entitlement.user_id,
        "guild_id": entitlement.guild_id,
        "starts_at": entitlement.starts_at,
        "ends_at": entitlement.ends_at,
        "deleted": entitlement.deleted,
    }


def premium_feature(feature: str) -> Callable[[T], T]:
    """A check: the command needs ``feature`` (from the interaction's entitlements, or the stored benefits)."""

    async def predicate(ctx: Ctx) -> bool:
        db = ctx.bot.db
        if ctx.interaction is not None:
            now = utcnow()
            owned = {e.sku_id for e in ctx.interaction.entitlements if e.ends_at is None or e.ends_at > now}
            if owned and any(owned & set(t.sku_ids) and feature in t.features for t in await db.premium.tiers()):
                return True
        try:
            await db.premium.require(feature, guild_id=ctx.guild.id if ctx.guild else None, user_id=ctx.author.id)
        except PremiumRequiredError as error:
            raise BlockedError(str(error)) from error
        return True

    return commands.check(predicate)


def _until(moment: datetime | None) -> str:
    return "" if moment is None else f" until <t:{int(moment.timestamp())}:f>"


def describe(sub: SubscriptionRead) -> str:
    """One line about a subscription: tier, status, and when it moves on."""
    when = {
        "trialing": _until(sub.trial_end),
        "active": _until(sub.period_end),
        "grace": _until(sub.grace_until),
    }.get(sub.status.value, "")
    return f"{sub.tier_id}: {sub.status.value}{when} ({sub.source.value})"


def benefits_embed(title: str, benefits: Benefits) -> discord.Embed:
    """The tier, features and limits in one embed."""
    limits = "\n".join(f"{name.replace('_', ' ')}: {value}" for name, value in sorted(benefits.limits.items()))
    return embed(
        title,
        None,
        tier=benefits.tier_id or "free",
        features=", ".join(sorted(benefits.features)) or "none",
        limits=limits,
    )


class PremiumCog(GuildbaseCog, name="Premium"):
    """Premium status, benefits and keys."""

    @hybrid(name="premium")
    async def status(self, ctx: Ctx) -> None:
        """This server's and your premium subscriptions."""
        mine = [s for s in await self.db.premium.subscriptions("user", ctx.author.id) if _current(s)]
        lines = [f"You: {', '.join(describe(s) for s in mine) or 'free'}"]
        if ctx.guild is not None:
            theirs = [s for s in await self.db.premium.subscriptions("guild", ctx.guild.id) if _current(s)]
            lines.insert(0, f"This server: {', '.join(describe(s) for s in theirs) or 'free'}")
        await ctx.send("\n".join(lines))

    @hybrid(name="benefits")
    async def benefits(self, ctx: Ctx) -> None:
        """What premium gives here: the server's tier and yours together."""
        found = await self.db.premium.benefits(ctx.guild.id if ctx.guild else None, ctx.author.id)
        await ctx.send(embed=benefits_embed("Premium benefits", found))

    @hybrid(name="redeem")
    async def redeem(self, ctx: Ctx, code: str, target: Literal["me", "server"] = "me") -> None:
        """Redeem a premium key for yourself, or for this server (Manage Server)."""
        if target == "server":
            if ctx.guild is None:
                raise commands.NoPrivateMessage
            if not ctx.author.guild_permissions.manage_guild:  # type: ignore[union-attr]
                raise commands.MissingPermissions(["manage_guild"])
            sub = await self.db.premium.redeem_key(code, owner_type="guild", owner_id=ctx.guild.id)
        else:
            sub = await self.db.premium.redeem_key(code, owner_type="user", owner_id=ctx.author.id)
        whom = "This server has" if target == "server" else "You have"
        await ctx.send(f"{whom} {sub.tier_id}{_until(sub.period_end)}.")

    @hybrid(name="premiumembed")
    @premium_feature("custom_embeds")
    async def premium_embed(self, ctx: Ctx, *, title: str) -> None:
        """Post an embed with your own title (a premium feature: custom_embeds)."""
        await ctx.send(embed=embed(title[:256], None))

    @commands.command(name="premiumsync")
    @commands.is_owner()
    async def sync(self, ctx: Ctx) -> None:
        """Fetch the application's entitlements from Discord and repair the stored subscriptions (bot owners)."""
        found = [as_payload(e) async for e in self.bot.entitlements(limit=None, exclude_ended=False)]
        report = await self.db.premium.reconcile(found)
        await ctx.send(
            f"Reconciled {len(found)} entitlements: {report.applied} repaired, "
            f"{report.canceled} canceled, {report.unchanged} unchanged."
        )

    # -- Discord's entitlement events -------------------------------------------------------
    @commands.Cog.listener()
    async def on_entitlement_create(self, entitlement: discord.Entitlement) -> None:
        await self.db.premium.entitlement_created(as_payload(entitlement), at=utcnow())

    @commands.Cog.listener()
    async def on_entitlement_update(self, entitlement: discord.Entitlement) -> None:
        await self.db.premium.entitlement_updated(as_payload(entitlement), at=utcnow())

    @commands.Cog.listener()
    async def on_entitlement_delete(self, entitlement: discord.Entitlement) -> None:
        await self.db.premium.entitlement_deleted(as_payload(entitlement), at=utcnow())


def _current(sub: SubscriptionRead) -> bool:
    return sub.status.value in {"trialing", "active", "grace"}
