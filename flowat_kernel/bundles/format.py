"""The ``.flowat`` bundle file: one JSON document holding a workflow and what it needs.

A bundle carries the notebook, the compiled spec and its content hash, the parameters
with their types and defaults, the connectors, Python packages and secret *names* the
workflow needs (never a value), a description and tags. docs/templates.md describes the
format field by field.

Reading is defensive: a file larger than :data:`MAX_BUNDLE_BYTES` (or
``FLOWAT_BUNDLE_MAX_BYTES``), nested deeper than :data:`MAX_DEPTH`, from a newer format
version, with fields this FlowAt does not know, or whose spec or notebook does not match
its hash is refused with a message that says which.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flowat_kernel.errors import FlowAtError
from flowat_kernel.spec import InputSpec, WorkflowSpec

__all__ = [
    "FORMAT_VERSION",
    "MAX_BUNDLE_BYTES",
    "MAX_DEPTH",
    "Bundle",
    "BundleError",
    "PackageNeed",
    "Requirements",
    "bundle_bytes",
    "notebook_hash",
    "parse_bundle",
    "read_bundle",
]

#: The format version this FlowAt writes and the highest it reads.
FORMAT_VERSION = 1
#: The largest bundle read (bytes), unless ``FLOWAT_BUNDLE_MAX_BYTES`` says otherwise.
MAX_BUNDLE_BYTES = 8 * 1024 * 1024
#: The deepest nesting of lists and objects read.
MAX_DEPTH = 64
_MAX_TAGS = 32


class BundleError(FlowAtError):
    """A bundle cannot be read or used as it is; the message says what to do."""

    usage = True


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PackageNeed(_Model):
    """A Python package the steps import: the import name and, when known, its PyPI name."""

    module: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    distribution: str | None = Field(default=None, max_length=200)


class Requirements(_Model):
    """What must exist where the bundle is imported, besides FlowAt itself."""

    connectors: tuple[str, ...] = ()
    packages: tuple[PackageNeed, ...] = ()
    secrets: tuple[str, ...] = ()


class Bundle(_Model):
    """One ``.flowat`` document (see the module's documentation)."""

    flowat_bundle: int = Field(ge=1)
    name: str
    description: str = Field(default="", max_length=4000)
    tags: tuple[str, ...] = Field(default=(), max_length=_MAX_TAGS)
    source: dict[str, Any] = Field(default_factory=dict)
    parameters: tuple[InputSpec, ...] = ()
    requires: Requirements = Requirements()
    spec: dict[str, Any]
    spec_hash: str
    notebook: dict[str, Any]
    notebook_hash: str

    def workflow_spec(self) -> WorkflowSpec:
        """The spec, validated, after checking it against ``spec_hash``.

        Raises:
            BundleError: the spec is not valid, or does not match its hash (changed after
                export).

        """
        try:
            spec = WorkflowSpec.parse(self.spec)
        except FlowAtError as exc:
            raise BundleError(f"bundle {self.name!r}: its spec is not valid: {exc}") from None
        if spec.content_hash() != self.spec_hash:
            raise BundleError(
                f"bundle {self.name!r} was changed after it was exported: its spec does not "
                f"match its hash {self.spec_hash}; export it again from the original"
            )
        if spec.name != self.name:
            raise BundleError(
                f"bundle {self.name!r} holds the spec of workflow {spec.name!r}; the names "
                "must agree"
            )
        return spec

    def check_notebook(self) -> None:
        """Check the notebook against ``notebook_hash``.

        Raises:
            BundleError: it was changed after export, or is not a notebook document.

        """
        cells = self.notebook.get("cells")
        if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
            raise BundleError(f"bundle {self.name!r}: its notebook has no list of cells")
        if notebook_hash(self.notebook) != self.notebook_hash:
            raise BundleError(
                f"bundle {self.name!r} was changed after it was exported: its notebook does "
                f"not match its hash {self.notebook_hash}"
            )


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def notebook_hash(notebook: dict[str, Any]) -> str:
    """``sha256:`` plus the digest of the notebook's canonical JSON."""
    return "sha256:" + hashlib.sha256(_canonical(notebook)).hexdigest()


def bundle_bytes(bundle: Bundle) -> bytes:
    """The bundle as the file holds it: indented JSON with sorted keys, and a newline."""
    document = bundle.model_dump(mode="json")
    return (json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _limit() -> int:
    raw = os.environ.get("FLOWAT_BUNDLE_MAX_BYTES", "").strip()
    if not raw:
        return MAX_BUNDLE_BYTES
    if not raw.isdigit() or int(raw) <= 0:
        raise BundleError(f"FLOWAT_BUNDLE_MAX_BYTES={raw!r} is not a positive number of bytes")
    return int(raw)


def _depth_before_parsing(text: bytes, where: str) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` before the JSON parser recurses."""
    depth = 0
    in_string = escaped = False
    for byte in text:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_DEPTH:
                raise BundleError(f"{where} nests lists or objects deeper than {MAX_DEPTH} levels")
        elif byte in (0x5D, 0x7D):
            depth -= 1


def parse_bundle(data: bytes | str | dict[str, Any], where: str = "the bundle") -> Bundle:
    """Read a bundle from its bytes (or an already parsed document) and check its hashes.

    Raises:
        BundleError: too large, too deep, not JSON, from a newer FlowAt, with unknown
            fields, badly formed, or changed after export.

    """
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, bytes):
        limit = _limit()
        if len(data) > limit:
            raise BundleError(
                f"{where} is {len(data)} bytes, more than the {limit} a bundle may have "
                "(FLOWAT_BUNDLE_MAX_BYTES)"
            )
        _depth_before_parsing(data, where)
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(f"{where} is not a FlowAt bundle (not JSON: {exc})") from None
    else:
        _depth_before_parsing(_canonical(data), where)
        document = data
    if not isinstance(document, dict) or "flowat_bundle" not in document:
        raise BundleError(f"{where} is not a FlowAt bundle (no flowat_bundle format field)")
    version = document["flowat_bundle"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"{where}: flowat_bundle must be a format number, not {version!r}")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"{where} was written in bundle format {version} by a newer FlowAt; this FlowAt "
            f"reads format {FORMAT_VERSION} and older. Upgrade FlowAt to import it."
        )
    _refuse_unknown_fields(document, where)
    try:
        bundle = Bundle.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(bundle)'}: {e['msg']}" for e in exc.errors()
        )
        raise BundleError(f"{where} is not a valid bundle: {problems}") from None
    bundle.workflow_spec()
    bundle.check_notebook()
    return bundle


def _refuse_unknown_fields(document: dict[str, Any], where: str) -> None:
    known = set(Bundle.model_fields)
    unknown = sorted(str(k) for k in document if k not in known)
    requires = document.get("requires")
    if isinstance(requires, dict):
        unknown += [f"requires.{k}" for k in sorted(requires) if k not in Requirements.model_fields]
    if unknown:
        raise BundleError(
            f"{where} has fields this FlowAt does not know ({', '.join(unknown)}): it was "
            "probably written by a newer FlowAt. Upgrade FlowAt to import it; nothing was "
            "imported."
        )


def read_bundle(path: str | Path) -> Bundle:
    """Read and check the bundle file at ``path`` (see :func:`parse_bundle`).

    Raises:
        BundleError: no such file, or the file is not a bundle this FlowAt can use.

    """
    target = Path(path)
    try:
        size = target.stat().st_size
        if size > _limit():
            raise BundleError(
                f"{target} is {size} bytes, more than the {_limit()} a bundle may have "
                "(FLOWAT_BUNDLE_MAX_BYTES)"
            )
        data = target.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read bundle {target}: {exc.strerror or exc}") from None
    return parse_bundle(data, where=str(target))
