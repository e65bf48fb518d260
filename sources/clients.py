"""One storage client per source, built once per process and reused.

Building a boto3 or Azure client costs milliseconds (endpoint resolution, credential
decryption, connection pools), far more than signing a URL; a request that signs a
thousand URLs must not build a thousand clients.
"""

from __future__ import annotations

import hashlib
import json
import threading

from sources.backends import BACKENDS, Backend, StorageError
from sources.endpoints import check_endpoint
from sources.models import Source

_lock = threading.Lock()
_clients: dict[int, tuple[str, Backend]] = {}


def _fingerprint(source: Source) -> str:
    config = json.dumps(source.backend_config(), sort_keys=True)
    return hashlib.sha256(f"{source.kind}\0{config}\0{source.encrypted_credentials}".encode()).hexdigest()


def build_backend(source: Source) -> Backend:
    """A new client for a source (not cached): for checking settings before they are saved."""
    backend_class = BACKENDS[source.kind]
    config = source.backend_config()
    if refused := backend_class.refusal(config):
        raise StorageError(refused, reason="config")
    backend = backend_class(config, source.credentials)
    for url in backend.endpoints():
        check_endpoint(url)
    return backend


def backend_for(source: Source) -> Backend:
    fingerprint = _fingerprint(source)
    cached = _clients.get(source.pk)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    with _lock:
        cached = _clients.get(source.pk)
        if cached is None or cached[0] != fingerprint:
            cached = (fingerprint, build_backend(source))
            _clients[source.pk] = cached
    return cached[1]


def forget(source_pk: int) -> None:
    _clients.pop(source_pk, None)
