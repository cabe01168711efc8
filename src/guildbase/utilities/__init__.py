"""Pure helpers behind the reference bot's utility commands: encodings and conversions.

No I/O, no database, no Discord: each function maps its input to its output
(or raises ``ValueError`` saying what was wrong), so the round trips are
proved by hypothesis (``tests/utilities``) and any adapter can reuse them.
"""
