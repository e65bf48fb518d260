"""Signing download URLs: our signers against boto3 and the Azure SDK, in the same run.

`make bench-sign` prints, for N presigned S3 GET URLs and N Azure read SAS URLs, the CPU
time and the rate of each signer and the ratio ours / library's. Goals (issue 8): S3 in at
most 1 s of CPU per 100,000 URLs and at least 40x boto3; Azure at least 8x generate_blob_sas.

boto3 and the SDK are timed on a sample (they are slow) and scaled to N; ours on all N.
Nothing is sent anywhere: signing is arithmetic.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas
from botocore.client import Config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sources.backends.signing import SAS_START_SKEW, AzureSasSigner, S3Signer

# Azurite's public development key: any well-formed key signs at the same speed.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def cpu_seconds(run: Callable[[], object]) -> float:
    start = time.process_time()
    run()
    return time.process_time() - start


def keys(count: int) -> list[str]:
    return [f"data/run-{index // 1000:04d}/sample {index:06d}+ä.csv" for index in range(count)]


def bench_s3(count: int, sample: int) -> tuple[float, float]:
    client = boto3.session.Session().client(
        "s3",
        endpoint_url="https://s3.eu-central-1.amazonaws.com",
        region_name="eu-central-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}),
    )
    probe = client.generate_presigned_url("get_object", Params={"Bucket": "bench-bucket", "Key": "k"})
    signer = S3Signer(
        bucket_url=probe.partition("?")[0].removesuffix("/k"),
        region="eu-central-1",
        access_key_id="AKIDEXAMPLE",
        secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    )
    names = keys(count)
    ours = cpu_seconds(lambda: [signer.sign(name, expires_in=900) for name in names])
    library = cpu_seconds(
        lambda: [
            client.generate_presigned_url("get_object", Params={"Bucket": "bench-bucket", "Key": name}, ExpiresIn=900)
            for name in names[:sample]
        ]
    )
    return ours, library * count / sample


def bench_azure(count: int, sample: int) -> tuple[float, float]:
    account_url = "https://benchaccount.blob.core.windows.net"
    service = BlobServiceClient(account_url, credential=ACCOUNT_KEY)
    container = service.get_container_client("bench")
    signer = AzureSasSigner(
        container_url=container.url, account_name="benchaccount", container="bench", account_key=ACCOUNT_KEY
    )
    names = keys(count)
    ours = cpu_seconds(lambda: [signer.sign(name, expires_in=900) for name in names])

    def library_run() -> None:
        # What the backend did before: one SAS and the blob's URL per file.
        for name in names[:sample]:
            now = dt.datetime.now(dt.UTC)
            token = generate_blob_sas(
                account_name="benchaccount",
                container_name="bench",
                blob_name=name,
                account_key=ACCOUNT_KEY,
                permission=BlobSasPermissions(read=True),
                start=now - SAS_START_SKEW,
                expiry=now + dt.timedelta(seconds=900),
            )
            _ = f"{container.get_blob_client(name).url}?{token}"

    library = cpu_seconds(library_run)
    return ours, library * count / sample


def report(name: str, library_name: str, count: int, ours: float, library: float) -> None:
    print(
        f"{name:6} ours {ours:6.3f} s CPU for {count:,} URLs ({count / ours:>10,.0f}/s) | "
        f"{library_name} {library:6.2f} s ({count / library:>8,.0f}/s) | ratio {library / ours:5.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000, help="URLs signed by our signers")
    parser.add_argument("--sample", type=int, default=10_000, help="URLs signed by the libraries (scaled to --count)")
    options = parser.parse_args()
    ours, library = bench_s3(options.count, options.sample)
    report("S3", "boto3", options.count, ours, library)
    ours, library = bench_azure(options.count, options.sample)
    report("Azure", "azure-storage-blob", options.count, ours, library)


if __name__ == "__main__":
    main()
