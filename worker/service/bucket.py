"""An S3-compatible bucket for results too big to return inline: one object per file, a presigned
GET link that expires. boto3 with path-style addressing, which AWS S3, Cloudflare R2, Backblaze B2,
MinIO and SeaweedFS all accept (virtual-host style needs DNS per bucket that local stores lack)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from dataclasses import dataclass

from worker.core.errors import KokoroError
from worker.core.settings import Bucket

log = logging.getLogger("kokoro.bucket")


class BucketError(KokoroError):
    """The bucket refused or could not be reached; the sentence names the bucket, never a key."""


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: str  # ISO 8601, UTC

    def fields(self, prefix: str = "audio") -> dict:
        return {f"{prefix}_url": self.url, f"{prefix}_url_expires_at": self.expires_at}


class Storage:
    """Puts files into one bucket and hands out links to them."""

    def __init__(self, bucket: Bucket):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        # boto3 reads AWS_DEFAULT_REGION itself; us-east-1 signs for stores that ignore the region.
        region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
        self._client = boto3.client(
            "s3", endpoint_url=bucket.endpoint_url, aws_access_key_id=bucket.access_key_id,
            aws_secret_access_key=bucket.secret_access_key, region_name=region,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                          connect_timeout=10, read_timeout=120, retries={"max_attempts": 3}))

    def put(self, data: bytes, name: str, content_type: str) -> Link:
        """`data` stored as kokoro/<date>/<random>/<name>; a link valid for the bucket's expiry."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = f"kokoro/{dt.date.today():%Y-%m-%d}/{uuid.uuid4().hex}/{name}"
        try:
            self._client.put_object(Bucket=self.bucket.name, Key=key, Body=data, ContentType=content_type)
            url = self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket.name, "Key": key}, ExpiresIn=self.bucket.expiry_s)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "an error")
            raise BucketError(f"The bucket {self.bucket.name} at {self.bucket.endpoint_url} refused the "
                              f"upload ({code}); check KOKORO_BUCKET and the BUCKET_* keys.") from None
        except BotoCoreError as exc:
            raise BucketError(f"The bucket at {self.bucket.endpoint_url} could not be reached "
                              f"({exc.__class__.__name__}).") from None
        expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.bucket.expiry_s)
        log.info("Stored %d bytes as %s/%s", len(data), self.bucket.name, key)
        return Link(url, expires.replace(microsecond=0).isoformat())
