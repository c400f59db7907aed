"""Artifacts in S3-compatible object storage (``FLOWAT_ARTIFACTS_URL=s3://bucket/prefix``).

Objects are named ``PREFIX/REFERENCE`` and hold the sealed bytes. Writes stream: the
first 8 MiB are buffered; an artifact that fits is one ``PutObject``, a larger one a
multipart upload of 8 MiB parts, four in flight at a time (aborted if the write
fails), so an object appears only once complete. Reads stream the object's body.

The client is boto3's. The endpoint is ``FLOWAT_ARTIFACTS_ENDPOINT`` (MinIO, Ceph, a
cloud's S3 API; path-style addressing) or AWS's (or ``AWS_ENDPOINT_URL``); the region
``FLOWAT_ARTIFACTS_REGION`` or the AWS configuration's. Credentials are
``FLOWAT_ARTIFACTS_ACCESS_KEY_ID`` and ``FLOWAT_ARTIFACTS_SECRET_ACCESS_KEY`` when set,
else boto3's own chain (``AWS_ACCESS_KEY_ID``, profiles, instance roles); they are
read here only and never logged, printed or kept in settings.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, TYPE_CHECKING, Any

from flowat_kernel.errors import ConfigError, FlowAtError
from flowat_kernel.streams import ChunkingWriter, Fill, Readable

if TYPE_CHECKING:
    from flowat_kernel.config import Settings

__all__ = ["PARTS_IN_FLIGHT", "PART_BYTES", "S3Backend"]

#: The size of one multipart upload part (S3's minimum is 5 MiB, but for the last).
PART_BYTES = 8 << 20
#: Parts uploaded at the same time by one write.
PARTS_IN_FLIGHT = 4
_CREDENTIALS = "FLOWAT_ARTIFACTS_ACCESS_KEY_ID and FLOWAT_ARTIFACTS_SECRET_ACCESS_KEY"


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class _MultipartWriter(ChunkingWriter):
    """Buffers one part; the first full part starts a multipart upload.

    Parts are uploaded by up to :data:`PARTS_IN_FLIGHT` threads while the next part
    fills, so memory stays at a few parts whatever the artifact's size.
    """

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        super().__init__(PART_BYTES)
        self._client = client
        self._bucket = bucket
        self._key = key
        self._upload: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[dict[str, Any]]] = []
        self._parts: list[dict[str, Any]] = []
        self.size = 0

    def _send(self) -> None:
        self._send_part()

    def _upload_part(self, number: int, body: bytes) -> dict[str, Any]:
        sent = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload, PartNumber=number, Body=body
        )
        return {"ETag": sent["ETag"], "PartNumber": number}

    def _send_part(self) -> None:
        if self._upload is None:
            started = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
            self._upload = str(started["UploadId"])
            self._pool = ThreadPoolExecutor(PARTS_IN_FLIGHT, thread_name_prefix="flowat-s3")
        assert self._pool is not None
        while len(self._pending) >= PARTS_IN_FLIGHT:
            self._parts.append(self._pending.pop(0).result())
        number = len(self._parts) + len(self._pending) + 1
        self._pending.append(self._pool.submit(self._upload_part, number, bytes(self._buffer)))
        self.size += len(self._buffer)
        self._buffer.clear()

    def finish(self) -> None:
        """Send what is buffered and make the object visible."""
        if self._upload is None:
            self._client.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
            self.size += len(self._buffer)
            self._buffer.clear()
            return
        if self._buffer:
            self._send_part()
        self._parts.extend(future.result() for future in self._pending)
        self._pending.clear()
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload,
            MultipartUpload={"Parts": self._parts},
        )
        self._close_pool()

    def abort(self) -> None:
        """Drop a started multipart upload (its parts are not kept)."""
        self._close_pool()
        if self._upload is not None:
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self._key, UploadId=self._upload
                )

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class _BodyReader(io.RawIOBase):
    """An object's streaming body, with ``readinto`` filling the buffer when it can."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(target):
            data = self._body.read(len(target) - filled)
            if not data:
                break
            target[filled : filled + len(data)] = data
            filled += len(data)
        return filled

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()
        super().close()


class S3Backend:
    """Sealed artifacts as objects ``prefix/reference`` in one bucket.

    Args:
        client: a boto3 S3 client.
        bucket: the bucket (it exists: :meth:`from_settings` checks).
        prefix: prepended to every reference (empty, or ending in ``/``).

    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.location = f"s3://{bucket}/{prefix}"

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Backend:
        """The backend for ``settings.artifacts_url``, its bucket checked.

        Raises:
            ConfigError: a malformed URL, no credentials, an unreachable endpoint, a
                missing bucket or one these credentials may not use; the message names
                the variable to set.

        """
        import boto3
        from botocore.config import Config
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
        )

        url = settings.artifacts_url
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigError(
                f"FLOWAT_ARTIFACTS_URL={url!r} names no bucket; use s3://bucket or "
                "s3://bucket/prefix"
            )
        prefix = prefix.strip("/")
        prefix = f"{prefix}/" if prefix else ""
        key_id = os.environ.get("FLOWAT_ARTIFACTS_ACCESS_KEY_ID") or None
        secret = os.environ.get("FLOWAT_ARTIFACTS_SECRET_ACCESS_KEY") or None
        if (key_id is None) != (secret is None):
            raise ConfigError(f"S3 artifact storage needs both {_CREDENTIALS}, or neither")
        endpoint = settings.artifacts_endpoint or None
        session = boto3.session.Session(
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            region_name=settings.artifacts_region or None,
        )
        config = Config(
            s3={"addressing_style": "path"} if endpoint else {},
            retries={"max_attempts": 5, "mode": "standard"},
        )
        where = endpoint or "AWS S3"
        try:
            client = session.client("s3", endpoint_url=endpoint, config=config)
            client.head_bucket(Bucket=bucket)
        except NoCredentialsError:
            raise ConfigError(
                f"FLOWAT_ARTIFACTS_URL={url!r}: no S3 credentials; set {_CREDENTIALS} "
                "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an AWS profile)"
            ) from None
        except EndpointConnectionError:
            raise ConfigError(
                f"FLOWAT_ARTIFACTS_URL={url!r}: cannot reach the S3 endpoint {where}; check "
                "FLOWAT_ARTIFACTS_ENDPOINT and that the object store is running"
            ) from None
        except ClientError as exc:
            code = _code(exc)
            if code in {"404", "NoSuchBucket", "NotFound"}:
                raise ConfigError(
                    f"FLOWAT_ARTIFACTS_URL={url!r}: the bucket {bucket!r} does not exist at "
                    f"{where}; create it, or point FLOWAT_ARTIFACTS_URL (and "
                    "FLOWAT_ARTIFACTS_ENDPOINT) at an existing one"
                ) from None
            raise ConfigError(
                f"FLOWAT_ARTIFACTS_URL={url!r}: {where} refused access to the bucket "
                f"{bucket!r} ({code or exc.__class__.__name__}); check {_CREDENTIALS} "
                "(or the AWS credentials in use) and FLOWAT_ARTIFACTS_REGION"
            ) from None
        except (BotoCoreError, ValueError) as exc:
            raise ConfigError(
                f"FLOWAT_ARTIFACTS_URL={url!r}: cannot use S3 at {where} "
                f"({exc.__class__.__name__}); check FLOWAT_ARTIFACTS_ENDPOINT and "
                "FLOWAT_ARTIFACTS_REGION"
            ) from None
        return cls(client, bucket, prefix)

    def _key(self, reference: str) -> str:
        return f"{self.prefix}{reference}"

    def write(self, reference: str, fill: Fill) -> int:
        """Upload as one object (multipart when over 8 MiB); its size."""
        writer = _MultipartWriter(self.client, self.bucket, self._key(reference))
        try:
            stream: IO[bytes] = writer  # type: ignore[assignment]
            fill(stream)
            writer.finish()
        except BaseException:
            writer.abort()
            raise
        return writer.size

    @contextlib.contextmanager
    def open(self, reference: str) -> Iterator[tuple[Readable, int]]:
        """The object's body as a stream, and its length."""
        from botocore.exceptions import ClientError

        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self._key(reference))
        except ClientError as exc:
            if _code(exc) in {"NoSuchKey", "404", "NotFound"}:
                raise FileNotFoundError(reference) from None
            raise FlowAtError(
                f"cannot read artifact {reference} from {self.location} ({_code(exc)}); "
                "check the S3 credentials' permissions"
            ) from None
        reader = _BodyReader(got["Body"])
        try:
            yield reader, int(got["ContentLength"])
        finally:
            reader.close()

    def delete(self, reference: str) -> bool:
        """Delete the object; whether it was there."""
        from botocore.exceptions import ClientError

        key = self._key(reference)
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in {"NoSuchKey", "404", "NotFound"}:
                return False
            raise
        self.client.delete_object(Bucket=self.bucket, Key=key)
        return True

    def delete_folder(self, folder: str) -> int:
        """Delete every object under ``prefix/folder/`` (1,000 per request)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(f"{folder}/")
        )
        count = 0
        for page in pages:
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                )
                count += len(keys)
        return count

    def folders(self, folder: str) -> list[str]:
        """The common prefixes one level under ``prefix/folder/``."""
        base = self._key(f"{folder}/")
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=base, Delimiter="/"
        )
        return [
            str(common["Prefix"])[len(base) :].rstrip("/")
            for page in pages
            for common in page.get("CommonPrefixes", [])
        ]
