"""The credential vault: sealed secrets, handles, masking and the Temporal payload codec.

| module | job |
| --- | --- |
| ``crypto`` | AES-256-GCM envelope encryption |
| ``keyring`` | master keys from ``FLOWAT_MASTER_KEY`` or the 0600 key file |
| ``vault`` | sealed secret rows: set, reveal, list, delete, master-key rotation |
| ``handles`` | ``flowat.secret(name)``: what code holds instead of a value |
| ``redaction`` | masking revealed values in logs, errors, records and displays |
| ``codec`` | the Temporal payload codec that encrypts history |
"""

from flowat_kernel.vault.handles import SecretHandle, reveal, secret
from flowat_kernel.vault.vault import RotationReport, SecretInfo, Vault

__all__ = ["RotationReport", "SecretHandle", "SecretInfo", "Vault", "reveal", "secret"]
