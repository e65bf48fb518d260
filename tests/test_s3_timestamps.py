"""The S3 backend's timestamp reader gives exactly what botocore's own reader gives."""

from __future__ import annotations

import datetime as dt

from botocore.utils import parse_timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from sources.backends.s3 import timestamp
from tests.conftest import S3Server
from tests.test_sources_backends import s3_backend

MOMENTS = st.datetimes(
    min_value=dt.datetime(1970, 1, 2),
    max_value=dt.datetime(9998, 12, 31),
    timezones=st.one_of(
        st.just(dt.UTC),
        st.timedeltas(min_value=-dt.timedelta(hours=23), max_value=dt.timedelta(hours=23)).map(
            lambda offset: dt.timezone(dt.timedelta(minutes=offset // dt.timedelta(minutes=1)))
        ),
    ),
)


def same(mine: dt.datetime, theirs: dt.datetime) -> bool:
    return (
        mine == theirs and mine.utcoffset() == theirs.utcoffset() and (mine.tzinfo is None) == (theirs.tzinfo is None)
    )


@settings(max_examples=300, deadline=None)
@given(MOMENTS, st.sampled_from(["s3", "seconds", "micro", "isoformat"]))
def test_it_reads_iso_timestamps_as_botocore_does(moment: dt.datetime, form: str) -> None:
    if form == "s3":  # what S3 writes in a listing: milliseconds, "Z"
        text = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    elif form == "seconds":
        text = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif form == "micro":
        text = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        text = moment.isoformat()
    assert same(timestamp(text), parse_timestamp(text)), text


def test_it_hands_other_forms_to_botocore() -> None:
    for text in [
        "Wed, 12 Oct 2009 17:50:00 GMT",  # a Last-Modified header
        "Tue, 05 Mar 2024 09:00:01 GMT",
        "1700000000",  # epoch seconds
        "1700000000.5",
        "2024-05-06",  # no offset: botocore decides
        "2024-05-06T07:08:09",
        "20240506T070809Z",
    ]:
        assert same(timestamp(text), parse_timestamp(text)), text


def test_a_listing_and_a_stat_give_the_times_a_default_client_gives(seaweed: S3Server, s3_bucket: str) -> None:
    client = seaweed.client()
    for key in ["a.txt", "b/c.csv", "d/e/f.bin"]:
        client.put_object(Bucket=s3_bucket, Key=key, Body=key.encode())
    backend = s3_backend(seaweed, s3_bucket)

    listed = {info.key: info.last_modified for info in backend.iter_objects("")}
    expected = {item["Key"]: item["LastModified"] for item in client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert listed == expected
    assert all(moment is not None and moment.utcoffset() == dt.timedelta(0) for moment in listed.values())

    stat = backend.stat("b/c.csv")
    assert stat.last_modified == client.head_object(Bucket=s3_bucket, Key="b/c.csv")["LastModified"]
