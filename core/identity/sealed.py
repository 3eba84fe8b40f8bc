"""The IdP's refresh token, kept so a refresh can ask the IdP whether the developer still exists,
sealed so the database alone never gives it away.

It is encrypted to a public key derived from a secret only the client holds (its device code, then
its refresh token; the database keeps only their hashes): X25519 with an ephemeral key, HKDF-SHA256,
AES-256-GCM. Whoever reads the database sees ciphertext; whoever presents the secret can open it.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_BOX_INFO = b"switchyard sealed-box key v1"
_AEAD_INFO = b"switchyard sealed-box aead v1"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


class SealBroken(ValueError):
    """The sealed value cannot be opened with this secret (wrong secret, or altered)."""


def _private_for(secret: str) -> X25519PrivateKey:
    seed = HKDF(hashes.SHA256(), 32, salt=None, info=_BOX_INFO).derive(secret.encode("utf-8", "surrogatepass"))
    return X25519PrivateKey.from_private_bytes(seed)


def box_for(secret: str) -> bytes:
    """The public key (32 bytes) that values for the holder of ``secret`` are sealed to."""
    return _private_for(secret).public_key().public_bytes(*_RAW)


def _aead(shared: bytes, ephemeral: bytes, recipient: bytes) -> AESGCM:
    key = HKDF(hashes.SHA256(), 32, salt=ephemeral + recipient, info=_AEAD_INFO).derive(shared)
    return AESGCM(key)


def seal(box: bytes, plaintext: str) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(*_RAW)
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(box))
    nonce = os.urandom(12)
    return ephemeral_public + nonce + _aead(shared, ephemeral_public, box).encrypt(nonce, plaintext.encode(), None)


def unseal(secret: str, sealed: bytes) -> str:
    if len(sealed) < 32 + 12 + 16:
        raise SealBroken("sealed value too short")
    private = _private_for(secret)
    recipient = private.public_key().public_bytes(*_RAW)
    ephemeral_public, nonce, ciphertext = sealed[:32], sealed[32:44], sealed[44:]
    shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    try:
        return _aead(shared, ephemeral_public, recipient).decrypt(nonce, ciphertext, None).decode()
    except InvalidTag:
        raise SealBroken("the sealed value does not open with this secret") from None
