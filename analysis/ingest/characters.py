"""Characters that make two cells look the same when they are not: invisible ones and lookalike letters.

One rule for every column read as text (keys, categories, free text, custom fields):

- Invisible characters (zero-width spaces and joiners, byte order marks, direction marks, soft
  hyphens and control characters other than tab and line breaks) are removed, and each cell
  changed is reported with the code point (e.g. U+200B): nobody means them, and a patient_id
  holding one would silently become another patient.
- Letters of another script that look like Latin ones (Cyrillic Р for P, Greek Ο for O) are kept
  as written, because they may be meant, but each cell using them is reported as an error naming
  the code point and the Latin letter it looks like: either a value mixes Latin with Cyrillic or
  Greek letters, or it is written only in lookalikes in a column otherwise written in Latin.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# RE2 syntax (pyarrow): format characters (Cf) and control characters other than tab, line feed, carriage return.
INVISIBLE = r"[\x{0}-\x{8}\x{B}\x{C}\x{E}-\x{1F}\x{7F}-\x{9F}\p{Cf}]"
NON_ASCII = r"[^\x{0}-\x{7F}]"
CONFUSED_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")
LOOKALIKES = dict(
    zip(
        "АВЕКМНОРСТХУЅІЈаеорсухѕіјһԁΑΒΕΖΗΙΚΜΝΟΡΤΥΧοιν",
        "ABEKMHOPCTXYSIJaeopcyxsijhdABEZHIKMNOPTYXoiv",
    )
)


NAMES = {"\ufeff": "BYTE ORDER MARK"}  # the name people know it by (Unicode: ZERO WIDTH NO-BREAK SPACE)


def code_point(character: str) -> str:
    """'U+200B (ZERO WIDTH SPACE)'."""
    name = NAMES.get(character) or unicodedata.name(character, "")
    return f"U+{ord(character):04X}" + (f" ({name})" if name else "")


def invisible_in(text: str) -> list[str]:
    """The invisible characters of a text, each once, in order."""
    return list(dict.fromkeys(ch for ch in text if _invisible(ch)))


def _invisible(character: str) -> bool:
    category = unicodedata.category(character)
    return category == "Cf" or (category == "Cc" and character not in "\t\n\r")


def script(character: str) -> str | None:
    """LATIN, CYRILLIC, GREEK, ... for a letter; None for digits, marks and punctuation."""
    if not unicodedata.category(character).startswith("L"):
        return None
    return unicodedata.name(character, "").split(" ")[0] or None


def lookalike_words(text: str, latin_column: bool) -> str | None:
    """Words naming the letters of another script that look like Latin ones, or None.

    A text is flagged when its letters mix Latin with Cyrillic or Greek, or, in a column written
    in Latin, when every letter is a lookalike of a Latin one.
    """
    scripts = {script(ch) for ch in text} - {None}
    if not scripts & set(CONFUSED_SCRIPTS):
        return None
    foreign = [ch for ch in dict.fromkeys(text) if script(ch) in CONFUSED_SCRIPTS[1:]]
    mixed = "LATIN" in scripts and bool(foreign)
    only_lookalikes = latin_column and bool(foreign) and all(ch in LOOKALIKES for ch in text if script(ch) is not None)
    if not (mixed or only_lookalikes):
        return None
    named = [
        code_point(ch) + (f", which looks like Latin {LOOKALIKES[ch]}" if ch in LOOKALIKES else "") for ch in foreign
    ]
    return "; ".join(named)


def latin_skeleton(text: str) -> str:
    """The text with each lookalike letter replaced by the Latin letter it looks like."""
    return "".join(LOOKALIKES.get(ch, ch) for ch in text)


def written_in_latin(distinct: list[str]) -> bool:
    """Whether at least half the values that hold letters hold Latin ones (the column's own script)."""
    with_letters = [value for value in distinct if any(script(ch) for ch in value)]
    latin = sum(any(script(ch) == "LATIN" for ch in value) for value in with_letters)
    return latin * 2 >= len(with_letters) > 0


def distinct_text(values: pa.Array) -> pa.Array:
    """The distinct texts of a column (for dictionary-encoded text, its dictionary)."""
    return values.dictionary if pa.types.is_dictionary(values.type) else pc.unique(values)


def positions(values: pa.Array, chosen: list[str]) -> np.ndarray:
    """Each row: True where its text is one of `chosen`."""
    if not chosen:
        return np.zeros(len(values), dtype=bool)
    text = values.cast(pa.string()) if pa.types.is_dictionary(values.type) else values
    return pc.fill_null(pc.is_in(text, value_set=pa.array(chosen, pa.string())), False).to_numpy(zero_copy_only=False)
