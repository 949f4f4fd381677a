"""When two names are the same name, and when a text shows nothing: the keys that make room
names unique and the test for strings that render blank."""
import unicodedata
from bisect import bisect_right

# Default_Ignorable_Code_Point from Unicode's DerivedCoreProperties.txt (14.0, the version of
# Python 3.11's unicodedata), as inclusive ranges.
# Renderers draw these as nothing unless they have a glyph for them; unicodedata does not
# expose the property, hence the table (tests/unit/test_names.py checks it against the
# `regex` module's copy of the same property when that is installed).
DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)
_STARTS = [start for start, _ in DEFAULT_IGNORABLE]
# Not default-ignorable, yet drawn as an empty cell: the blank braille pattern, a favourite
# for "invisible" names because no trimming touches it.
BLANK_SYMBOLS = frozenset("\u2800")
# The explicit bidi embeddings, overrides and isolates: they reorder the text around them
# (the "Trojan Source" characters, CVE-2021-42574). The bare marks (LRM, RLM, ALM) only
# steer neutral characters and stay allowed where format characters are.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_default_ignorable(char: str) -> bool:
    code = ord(char)
    index = bisect_right(_STARTS, code) - 1
    return index >= 0 and code <= DEFAULT_IGNORABLE[index][1]


def _blank_char(char: str) -> bool:
    return (char.isspace() or char in BLANK_SYMBOLS or unicodedata.category(char) == "Cc"
            or is_default_ignorable(char))


def renders_blank(text: str) -> bool:
    """True when the text shows nothing: only whitespace, controls, default-ignorable code
    points (zero-width characters, fillers, variation selectors, bidi controls) and blank
    symbols. An empty string renders blank."""
    return all(map(_blank_char, text))


def room_name_key(name: str) -> str:
    """The key two room names share when people would take them for one name: Unicode's
    canonical caseless match (D145: NFD, case fold, NFD; composed again only to keep keys
    short), so an NFD "Café" is the NFC one and "STRASSE" is "Straße"; and, as Unicode's
    NFKC_Casefold does, without default-ignorable code points, so an invisible filler or
    variation selector does not make a second name that looks like the first."""
    visible = "".join(char for char in unicodedata.normalize("NFD", name) if not is_default_ignorable(char))
    return unicodedata.normalize("NFC", visible.casefold())
