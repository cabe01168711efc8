"""The web dashboard (R21): ``guildbase web`` serves it; ``create_app`` builds it for tests and embedding.

Install the extra first: ``pip install 'guildbase[web]'``. Every page reads and
writes through the ``Database`` facade, the same controllers the bot uses, so
the bot sees a dashboard change as soon as the cache key it dropped is re-read.
"""

from guildbase.web.app import create_app
from guildbase.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
