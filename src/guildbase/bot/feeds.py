"""The Discord side of a feed item: how the reference bot posts one to its integration's channel."""

import discord

from guildbase.models.integrations import FeedItem, IntegrationRead


async def post_feed_item(bot: "discord.Client", integration: IntegrationRead, item: FeedItem) -> None:
    """Post one new feed item to its channel: the title in bold, then the link (which Discord previews)."""
    if integration.channel_id is None:
        return
    text = f"📰 **{discord.utils.escape_markdown(item.title) or 'New item'}**"
    if item.url:
        text += f"\n{item.url}"
    await bot.get_partial_messageable(integration.channel_id).send(
        text[:2000], allowed_mentions=discord.AllowedMentions.none()
    )
