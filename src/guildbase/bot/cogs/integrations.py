"""Integrations cog (R15.5): feeds and GitHub releases posted to a channel or a webhook (Manage Server).

Thin calls: ``db.integrations`` validates (a URL that is not http(s), a repository
that is not ``owner/repo``, a webhook URL that is not Discord's …) and the error
mapper quotes its message. The fetch runs as a recurring job; ``feedcheck`` runs
one now, so an admin sees at once whether a new feed works.
"""

from functools import partial

import discord
from discord.ext import commands

from guildbase.bot.cog import Ctx, GuildbaseCog, given_or_none, hybrid, manage_guild_only
from guildbase.bot.feeds import post_feed_item
from guildbase.bot.ui import chunk_pages, send_pages, timestamp
from guildbase.models.integrations import FetchOutcome, IntegrationDelivery, IntegrationRead, IntegrationSource

CHANNEL = given_or_none(discord.TextChannel, "where new items are posted (leave out: this channel)")


def describe(feed: IntegrationRead) -> str:
    """One line per feed: name, what it follows, where it posts, and how its last fetch went."""
    where = f"<#{feed.channel_id}>" if feed.channel_id else f"a {feed.delivery.value.replace('_', ' ')}"
    state = "off" if not feed.is_enabled else ("never fetched" if feed.last_fetched_at is None else "ok")
    if feed.last_fetched_at is not None:
        state = f"fetched {timestamp(feed.last_fetched_at)}"
    if feed.failure_count:
        state = f"failing ({feed.failure_count} in a row): {feed.last_error}"
    every = f"every {feed.interval_seconds // 60} min"
    return f"**{feed.name}** {feed.source.value} `{feed.url}` → {where}, {every}, {state}"


def outcome_text(outcome: FetchOutcome) -> str:
    """What one fetch did, in words."""
    if outcome.status == "first_fetch":
        return f"Fetched: {outcome.seen} items are there now; new ones will be posted from here on."
    if outcome.status == "posted":
        return f"Fetched: {len(outcome.posted)} new item(s) posted."
    if outcome.status == "not_modified":
        return "Fetched: nothing new since last time."
    if outcome.status == "skipped":
        return "Not fetched: the feed is switched off or waiting after failures."
    return f"The fetch failed: {outcome.error}"


class IntegrationsCog(
    GuildbaseCog,
    commands.GroupCog,
    name="Integrations",
    group_name="feed",
    group_description="Feeds and release notes posted to this server",
):
    """Feeds and release notes posted to this server (Manage Server)."""

    async def cog_check(self, ctx: Ctx) -> bool:
        return manage_guild_only(ctx)

    async def _add(
        self,
        ctx: Ctx,
        name: str,
        source: IntegrationSource,
        url: str,
        *,
        channel: discord.TextChannel | None,
        webhook: str | None,
    ) -> None:
        assert ctx.guild is not None  # noqa: S101 - cog_check
        delivery = IntegrationDelivery.CHANNEL
        if webhook is not None:
            is_discord = "/api/webhooks/" in webhook
            delivery = IntegrationDelivery.DISCORD_WEBHOOK if is_discord else IntegrationDelivery.WEBHOOK
        feed = await self.db.integrations.create(
            ctx.guild.id,
            name=name,
            source=source,
            url=url,
            delivery=delivery,
            channel_id=None if webhook is not None else (channel or ctx.channel).id,
            webhook_url=webhook,
        )
        await ctx.send(f"Added: {describe(feed)}", ephemeral=True)

    @hybrid(name="feedadd")
    async def add(
        self,
        ctx: Ctx,
        name: str,
        url: str,
        channel: discord.TextChannel | None = CHANNEL,
        webhook: str | None = None,
    ) -> None:
        """Follow an RSS or Atom feed; new items are posted to a channel, or to a webhook URL."""
        await self._add(ctx, name, IntegrationSource.FEED, url, channel=channel, webhook=webhook)

    @hybrid(name="feedgithub")
    async def github(
        self,
        ctx: Ctx,
        name: str,
        repository: str,
        channel: discord.TextChannel | None = CHANNEL,
        webhook: str | None = None,
    ) -> None:
        """Follow a GitHub repository's releases (``owner/repo``)."""
        await self._add(ctx, name, IntegrationSource.GITHUB_RELEASES, repository, channel=channel, webhook=webhook)

    @hybrid(name="feeds")
    async def feeds(self, ctx: Ctx) -> None:
        """This server's feeds and how their last fetch went."""
        assert ctx.guild is not None  # noqa: S101
        found = await self.db.integrations.list(ctx.guild.id)
        await send_pages(ctx, chunk_pages("Feeds", [describe(f) for f in found], empty="No feeds yet."))

    @hybrid(name="feedremove")
    async def remove(self, ctx: Ctx, name: str) -> None:
        """Stop following a feed."""
        assert ctx.guild is not None  # noqa: S101
        gone = await self.db.integrations.remove(ctx.guild.id, name)
        await ctx.send(f"Feed {name!r} removed." if gone else f"There is no feed called {name!r}.")

    @hybrid(name="feedswitch")
    async def switch(self, ctx: Ctx, name: str, state: bool) -> None:
        """Switch a feed on or off (on again: it is fetched at its next turn, failures forgotten)."""
        assert ctx.guild is not None  # noqa: S101
        feed = await self.db.integrations.update(ctx.guild.id, name, is_enabled=state)
        await ctx.send(f"Feed **{feed.name}** is {'on' if feed.is_enabled else 'off'}.")

    @hybrid(name="feedcheck")
    async def check(self, ctx: Ctx, name: str) -> None:
        """Fetch a feed now and post what is new."""
        assert ctx.guild is not None  # noqa: S101
        feed = await self.db.integrations.get(ctx.guild.id, name)
        if feed is None:
            await ctx.send(f"There is no feed called {name!r}.")
            return
        outcome = await self.db.integrations.fetch(
            ctx.guild.id, feed.integration_id, post=partial(post_feed_item, self.bot)
        )
        await ctx.send(outcome_text(outcome))
