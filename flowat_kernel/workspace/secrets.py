"""The workspace's secrets: set, list, delete, history, usage, master-key rotation."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from flowat_kernel.access.errors import Forbidden
from flowat_kernel.access.roles import Role

if TYPE_CHECKING:
    from flowat_kernel.access.principal import Principal
    from flowat_kernel.vault.rotation import RotationReport
    from flowat_kernel.vault.vault import SecretInfo
    from flowat_kernel.workspace.services import Services

__all__ = ["SecretUseCases"]


class SecretUseCases:
    """Secrets of the workspace's organization; values go in, never come out."""

    services: Services
    principal: Principal

    def set_secret(self, name: str, value: str) -> SecretInfo:
        """Store (or rotate) the secret ``name``; returns its metadata, never the value."""
        who = self.principal
        who.require("secrets:write")
        return self.services.vault.set(name, value, actor=who.user, owner=who.owner)

    def list_secrets(self) -> list[SecretInfo]:
        """Metadata of every secret of the organization: name, dates, last use, workflows."""
        self.principal.require("secrets:read")
        return self.services.vault.list_secrets(self.principal.owner)

    def delete_secret(self, name: str) -> None:
        """Delete the secret ``name`` (its history metadata stays)."""
        who = self.principal
        who.require("secrets:write")
        self.services.vault.delete(name, actor=who.user, owner=who.owner)

    def secret_history(self, name: str) -> list[dict[str, object]]:
        """When the secret ``name`` was set, rotated and deleted, and by whom."""
        self.principal.require("secrets:read")
        return self.services.vault.history(name, self.principal.owner)

    def secret_usage(self, name: str) -> dict[str, object]:
        """Which workflows used the secret ``name`` at run time, and which steps name it.

        ``steps`` lists the steps of each visible workflow's latest version that call
        ``flowat.secret("NAME")`` (or open an untrusted step's sandbox to it with
        ``--secret NAME``); ``workflows`` the workflows whose runs revealed it, with
        when last. Never a value.

        Raises:
            SecretNotFound: no secret of that name.

        """
        who = self.principal
        who.require("secrets:read")
        info = self.services.vault.info(name, who.owner)
        call = re.compile(r"secret\(\s*[\"']" + re.escape(info.name) + r"[\"']\s*\)")
        store = self.services.store
        steps: list[dict[str, object]] = []
        for workflow in store.list_workflows(who.owner):
            if not who.sees(workflow):
                continue
            version = store.get_version(who.owner, workflow)
            for step in version.spec.steps:
                texts = [step.source, *step.prelude, *(m.expression for m in step.map_in)]
                if info.name in step.secrets or any(call.search(t) for t in texts):
                    steps.append(
                        {"workflow": workflow, "version": version.number, "step": step.name}
                    )
        return {
            "name": info.name,
            "version": info.version,
            "last_used_at": info.last_used_at.isoformat() if info.last_used_at else None,
            "workflows": [w for w in info.used_by if who.sees(w)],
            "steps": steps,
        }

    def rotate_master_key(
        self, on_batch: Callable[[int, int], None] | None = None, batch_size: int = 500
    ) -> RotationReport:
        """Bring in a new master key (or finish an interrupted one); Owners only."""
        self._require_owner("rotate the master key")
        return self.services.vault.rotate_master_key(batch_size=batch_size, on_batch=on_batch)

    def retire_master_key(self, key_id: str) -> None:
        """Retire a master key that no row needs any more; Owners only."""
        self._require_owner("retire a master key")
        self.services.vault.retire_key(key_id)

    def _require_owner(self, what: str) -> None:
        who = self.principal
        through_key = who.via.startswith("key:") or who.key_id is not None
        if who.role is not Role.OWNER or through_key:
            raise Forbidden(f"only an Owner, acting directly (not through an API key), may {what}")
