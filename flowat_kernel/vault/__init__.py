"""The credential vault: sealed secrets, handles, masking and the Temporal payload codec.

| module | job |
| --- | --- |
| ``crypto`` | AES-256-GCM envelope encryption |
| ``keyring`` | master keys from ``FLOWAT_MASTER_KEY`` or the 0600 key file |
| ``vault`` | sealed secret rows: set, reveal, list, delete; payload-codec keys |
| ``rotation`` | master-key rotation: batched re-wrapping, resumable, key retirement |
| ``handles`` | ``flowat.secret(name)``: what code holds instead of a value |
| ``redaction`` | masking revealed values in logs, errors, records and displays |
| ``codec`` | the Temporal payload codec that encrypts history |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowat_kernel.lazy import lazy_getattr

if TYPE_CHECKING:
    from flowat_kernel.vault.handles import SecretHandle, reveal, secret
    from flowat_kernel.vault.rotation import RotationReport
    from flowat_kernel.vault.vault import SecretInfo, Vault

__all__ = ["RotationReport", "SecretHandle", "SecretInfo", "Vault", "reveal", "secret"]

# Lazy, so that importing the masking module (done when the IPython extension loads)
# does not pull in SQLAlchemy.
_LAZY = {
    "RotationReport": "flowat_kernel.vault.rotation",
    "SecretInfo": "flowat_kernel.vault.vault",
    "Vault": "flowat_kernel.vault.vault",
    "SecretHandle": "flowat_kernel.vault.handles",
    "reveal": "flowat_kernel.vault.handles",
    "secret": "flowat_kernel.vault.handles",
}

__getattr__ = lazy_getattr(__name__, _LAZY, globals())
