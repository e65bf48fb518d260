"""urls.txt: one resolve link per data file, in path order, for `wget -c -x -i urls.txt`."""

from __future__ import annotations

from packager.exports.parts import BASE
from packager.exports.rows import Row

PART = "urls"
NAME = "urls.txt"


def line(row: Row) -> str:
    """The row's line with BASE where the share's resolve base goes ("" for text files,
    which come in the ZIP)."""
    return "" if row.is_text else BASE + row.link + "\n"
