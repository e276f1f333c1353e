"""What an earlier release stored under a passphrase key, computed here independently of the
gateway's code (HKDF-stretched to a Fernet key), to test that such data still opens and rotates."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def written_by_an_earlier_release(passphrase: str, values: str) -> str:
    stretched = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"channel-gateway", info=b"secrets-at-rest"
    ).derive(passphrase.encode())
    return Fernet(base64.urlsafe_b64encode(stretched)).encrypt(values.encode()).decode()
