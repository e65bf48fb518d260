"""citation.bib, citation.ris and the APA line of "Cite this": cffconvert's conversions of CITATION.cff.

cffconvert leaves out the version (BibTeX and RIS) and the publisher; they are added to
its output here, so a reader cites the exact version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cffconvert import Citation as CffCitation

from packager.exports.cff import citation_cff

if TYPE_CHECKING:
    from packager.citation import Citation

BIBTEX_NAME = "citation.bib"
RIS_NAME = "citation.ris"


def _converted(citation: Citation) -> CffCitation:
    return CffCitation(citation_cff(citation))


def _bibtex_text(value: str) -> str:
    # Braces balance a BibTeX value; a stray one would end it early.
    return value.replace("\\", "").replace("{", "").replace("}", "")


def bibtex(citation: Citation) -> str:
    text: str = _converted(citation).as_bibtex(reference=_key(citation))
    body = text.rstrip().removesuffix("}").rstrip()
    additions = [
        f"version = {{{_bibtex_text(citation.version)}}}",
        f"publisher = {{{_bibtex_text(citation.publisher)}}}",
    ]
    if "url = " not in body:
        additions.append(f"url = {{{citation.url}}}")
    return body + ",\n" + ",\n".join(additions) + "\n}\n"


def _key(citation: Citation) -> str:
    from packager.exports.cff import split_name

    first = split_name(citation.creators[0].name)[1] if citation.creators else citation.publisher
    letters = "".join(character for character in first if character.isascii() and character.isalnum()) or "data"
    return f"{letters}{citation.year}v{citation.number}"


def ris(citation: Citation) -> str:
    text: str = _converted(citation).as_ris()
    lines = [line for line in text.strip().splitlines() if line.strip() != "ER" and not line.startswith("ER  -")]
    # A dataset, not cffconvert's generic "GEN".
    lines = ["TY  - DATA" if line.startswith("TY  -") else line for line in lines]
    lines.append(f"ET  - {citation.version}")
    lines.append(f"PB  - {citation.publisher}")
    if not any(line.startswith("UR  -") for line in lines):
        lines.append(f"UR  - {citation.url}")
    lines.append("ER  - ")
    return "\r\n".join(lines) + "\r\n"


def apa(citation: Citation) -> str:
    text: str = _converted(citation).as_apalike()
    return " ".join(text.split())
