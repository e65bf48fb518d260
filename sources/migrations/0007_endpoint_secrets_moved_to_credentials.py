"""Endpoint URLs lose their query string and fragment (they are refused from now on).

An Azure account URL saved with its SAS and no stored secret keeps working: the SAS moves
into the encrypted credentials. Any other query string is dropped, so it is no longer
shown in the API, pages or published manifests.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def move_endpoint_secrets(apps: Any, schema_editor: Any) -> None:
    from sources import crypto

    Source = apps.get_model("sources", "Source")
    for source in Source.objects.filter(endpoint_url__regex=r"[?#]"):
        url, _, query = source.endpoint_url.partition("?")
        url = url.partition("#")[0]
        query = query.partition("#")[0]
        credentials = crypto.decrypt_json(source.encrypted_credentials) if source.encrypted_credentials else {}
        if source.kind == "azure" and query and not credentials:
            source.encrypted_credentials = crypto.encrypt_json({"sas_token": query})
        source.endpoint_url = url
        source.save(update_fields=["endpoint_url", "encrypted_credentials"])


class Migration(migrations.Migration):
    dependencies = [("sources", "0006_source_team")]

    operations = [migrations.RunPython(move_endpoint_secrets, migrations.RunPython.noop)]
