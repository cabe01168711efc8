# ruff: noqa: RUF001, RUF002 - the confusables map (and its examples) are look-alike letters on purpose
"""Undo the common evasions of a word filter: letter case, look-alike characters, repeated letters.

``normalize`` is applied to a filter's words when its matcher is compiled and
to each message when it is checked, so both sides meet in the same form:

1. NFKC folds compatibility forms (full-width ``ｂａｄ``, ligatures, math
   letters like ``𝐛𝐚𝐝``) to their plain letters;
2. ``casefold`` removes case (``BAD``, ``Bad``; also ``ß`` → ``ss``);
3. a small confusables map turns Cyrillic and Greek look-alikes (``а``, ``е``,
   ``о``, ``р``, ``с`` …) and the usual digit and symbol stand-ins (``0`` → o,
   ``1`` → i, ``3`` → e, ``@`` → a, ``$`` → s …) into Latin letters, and drops
   zero-width characters and combining marks;
4. runs of one character collapse to one (``baaaad`` → ``bad``; the words are
   collapsed too, so ``good`` is stored as ``god`` and still matches ``goood``).
"""

import re
import unicodedata

__all__ = ["CONFUSABLES", "normalize"]

CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "ω": "w",
    # digits and symbols used as letters
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s",
    "|": "l", "€": "e",
}  # fmt: skip
_INVISIBLE = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad")
_TABLE = str.maketrans({**CONFUSABLES, **dict.fromkeys(_INVISIBLE, None)})
_REPEATS = re.compile(r"(.)\1+", re.DOTALL)


def normalize(text: str) -> str:
    """``text`` with case, look-alikes, invisible characters, accents and repeated letters folded away."""
    if text.isascii():  # NFKC changes no ASCII text and no accent is left to strip
        return _REPEATS.sub(r"\1", text.casefold().translate(_TABLE))
    folded = unicodedata.normalize("NFKC", text).casefold()
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFD", folded)
        folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _REPEATS.sub(r"\1", folded.translate(_TABLE))
