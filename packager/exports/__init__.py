"""What a collaborator downloads, one module per format.

Whatever a format can compute once per immutable version (pointer documents, sizes,
CRCs) is computed at publish time by `version_prepare` and kept on the version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from packager.models import PackageVersion


def version_prepare(*, version: PackageVersion) -> dict[str, Any]:
    """What the export formats keep on the version (PackageVersion.exports) when it is sealed."""
    return {}
