"""The reference discord.py bot on the guildbase facade (install ``guildbase[bot]``).

``guildbase bot`` runs it; ``GuildbaseBot(BotSettings())`` builds it. Nothing in the
data layer imports this package, so the data layer works without discord.py.
"""
