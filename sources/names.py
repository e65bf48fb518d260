"""Names with characters that hide or reorder text: bidi overrides, zero-width characters.

"invoice\u202efdp.exe" shows as "invoiceexe.pdf". Package paths refuse such characters
(packager.paths); names that come from storage as they are get them shown escaped.
"""

from __future__ import annotations

import unicodedata


def is_invisible(char: str) -> bool:
    """A format (Cf: bidi controls, zero-width characters, soft hyphen) or control character."""
    return unicodedata.category(char) in {"Cf", "Cc"}


def invisible_characters(name: str) -> list[str]:
    """The hidden characters of a name, as "U+202E"."""
    return sorted({f"U+{ord(char):04X}" for char in name if is_invisible(char)})


def visible(name: str) -> str:
    """The name with every hidden character written out, e.g. "invoice<U+202E>fdp.exe"."""
    if name.isprintable():  # no Cc or Cf character (nor any other unprintable one): as it is
        return name
    return "".join(f"<U+{ord(char):04X}>" if is_invisible(char) else char for char in name)
