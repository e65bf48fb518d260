"""An endpoint URL never carries a secret: a query string (an Azure SAS) is refused with a
clear 422 that does not repeat it, for every kind, whatever the secrets given with it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

pytestmark = pytest.mark.django_db

SAS = "sv=2022-11-02&ss=b&srt=co&sp=rl&se=2099-01-01T00:00:00Z&sig=c2VjcmV0c2lnbmF0dXJl"


def test_it_refuses_an_azure_account_url_with_a_sas(api: Api, azurite: Any, azure_container: str) -> None:
    fields = azurite.source_fields(azure_container, account_url=f"{azurite.account_url}?{SAS}")
    response = api.call("post", "/sources", fields)
    assert response.status_code == 422
    assert "query string" in response.text
    assert "sig=" not in response.text and "c2VjcmV0" not in response.text
    assert api.call("get", "/sources").json() == []


def test_it_refuses_an_azure_account_url_with_a_sas_and_a_sas_credential(
    api: Api, azurite: Any, azure_container: str
) -> None:
    fields = azurite.source_fields(azure_container, account_url=f"{azurite.account_url}?{SAS}", sas_token=SAS)
    del fields["account_key"]
    response = api.call("post", "/sources", fields)
    assert response.status_code == 422
    assert "sig=" not in response.text


@pytest.mark.parametrize("suffix", ["?x-id=1", "?", "#fragment"])
def test_it_refuses_an_s3_endpoint_with_a_query_string(api: Api, seaweed: Any, s3_bucket: str, suffix: str) -> None:
    fields = seaweed.source_fields(s3_bucket)
    fields["endpoint_url"] += suffix
    response = api.call("post", "/sources", fields)
    assert response.status_code == 422
    assert "endpoint_url" in response.text


def test_it_refuses_a_query_string_added_to_an_existing_source(api: Api, seaweed: Any, s3_bucket: str) -> None:
    created = api.call("post", "/sources", seaweed.source_fields(s3_bucket)).json()
    response = api.call("patch", f"/sources/{created['id']}", {"endpoint_url": created["endpoint_url"] + "?sig=abc"})
    assert response.status_code == 422
    assert "sig=abc" not in response.text
    assert api.call("get", f"/sources/{created['id']}").json()["endpoint_url"] == created["endpoint_url"]


def test_a_sas_saved_in_an_account_url_before_moves_into_the_credentials(owner: Any) -> None:
    import importlib

    from django.apps import apps

    from sources.models import Source

    migration = importlib.import_module("sources.migrations.0007_endpoint_secrets_moved_to_credentials")
    azure = Source.objects.create(
        owner=owner, name="a", kind="azure", bucket="c", endpoint_url=f"https://acct.blob.core.windows.net/?{SAS}"
    )
    keyed = Source.objects.create(owner=owner, name="k", kind="azure", bucket="c", endpoint_url="https://x.test/?sig=1")
    keyed.set_credentials({"account_key": "a2V5"})
    keyed.save()
    s3 = Source.objects.create(owner=owner, name="s", kind="s3", bucket="b", endpoint_url="https://s3.test#frag")
    migration.move_endpoint_secrets(apps, None)
    for source in (azure, keyed, s3):
        source.refresh_from_db()
    assert azure.endpoint_url == "https://acct.blob.core.windows.net/"
    assert azure.credentials == {"sas_token": SAS}
    assert keyed.endpoint_url == "https://x.test/" and keyed.credentials == {"account_key": "a2V5"}
    assert s3.endpoint_url == "https://s3.test"
