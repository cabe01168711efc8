"""Personal data (R10.2, R10.3): the erase policy registry, the catalog scan and the privacy.md generator.

Model modules import ``guildbase.privacy.policy`` to declare their policy, so
this package imports nothing from the models or the controllers (no cycle);
``db.privacy`` (``controllers/privacy.py``) runs export and erase from it.
"""
