"""Encryption at rest for source credentials.

Keys come from CREDENTIALS_KEYS, or are derived from SECRET_KEY and SECRET_KEY_FALLBACKS.
The first key encrypts and every key decrypts, so a key is rotated by putting the new one
first, running `manage.py rotate_credentials`, then dropping the old one.
"""

from __future__ import annotations

import base64
import functools
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from sources.backends.errors import StorageError


class CredentialsUnreadable(StorageError):
    """The keys changed without `rotate_credentials`: the source must be given its secrets again."""

    reason = "config"


def _derive(secret: str) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"packager.sources", info=b"credentials").derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(key)


@functools.lru_cache(maxsize=4)
def _fernet(secrets: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_derive(secret)) for secret in secrets])


def _current() -> MultiFernet:
    secrets = settings.CREDENTIALS_KEYS or [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return _fernet(tuple(secrets))


def encrypt_json(value: dict[str, str]) -> str:
    return _current().encrypt(json.dumps(value).encode()).decode()


def decrypt_json(token: str) -> dict[str, str]:
    try:
        value: dict[str, str] = json.loads(_current().decrypt(token.encode()))
    except InvalidToken as error:
        raise CredentialsUnreadable("The stored credentials cannot be decrypted with the configured keys.") from error
    return value


def rotate(token: str) -> str:
    """Re-encrypt a token with the current first key."""
    return _current().rotate(token.encode()).decode()
