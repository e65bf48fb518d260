"""Relative links and images of a rendered README or notebook, pointed at the package's own files.

`![](figures/map.png)` and `[table](data/a.csv)` are written relative to the document; in a
page they must lead to the package's files as that page serves them (a share's links, or a
curator's draft). The HTML here has been sanitized (nh3), so every attribute is quoted with
double quotes and these patterns see all of them.
"""

from __future__ import annotations

import html
import posixpath
import re
from urllib.parse import quote, urlsplit

_ATTRIBUTE = re.compile(r'(<(?P<tag>a|img)\b[^>]*?\b(?P<name>href|src)=")(?P<value>[^"]*)(")')


def package_path(folder: str, reference: str) -> str | None:
    """The package path a relative reference in a document of `folder` names; None when it
    is not one (a URL, an absolute path, a fragment, or a path above the package)."""
    parts = urlsplit(reference)
    if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
        return None
    from urllib.parse import unquote

    joined = posixpath.normpath(posixpath.join(folder, unquote(parts.path)))
    if joined.startswith("../") or joined in {"..", "."}:
        return None
    return joined


def rewrite_relative(rendered: str, *, folder: str, link_prefix: str, image_prefix: str) -> str:
    """Point relative links at `link_prefix + path` and images at `image_prefix + path`."""
    if "href=" not in rendered and "src=" not in rendered:
        return rendered

    def replace(match: re.Match[str]) -> str:
        reference = html.unescape(match.group("value"))
        path = package_path(folder, reference)
        if path is None:
            return match.group(0)
        prefix = image_prefix if match.group("tag") == "img" else link_prefix
        fragment = urlsplit(reference).fragment
        target = prefix + quote(path) + (f"#{quote(fragment)}" if fragment and prefix == link_prefix else "")
        return f"{match.group(1)}{html.escape(target)}{match.group(5)}"

    return _ATTRIBUTE.sub(replace, rendered)
