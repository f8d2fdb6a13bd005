"""Cloud Storage for cleaned photos (google-cloud-storage; honours STORAGE_EMULATOR_HOST).

The client library is imported on first use, not at import time: the webhook only pays for it when
a photo arrives. Object names carry ids only (never names): photos/{owner}/{pet}/{random}.jpg, and
its triage copy photos/{owner}/{pet}/analysis/{random}.jpg.
Metadata (all strings, as Cloud Storage wants) is what the triage function needs to answer.
"""
from __future__ import annotations

import asyncio
import os
import threading


class PhotoStorage:
    def __init__(self, bucket: str, project: str):
        self.bucket_name = bucket
        self.project = project
        self._bucket = None
        self._lock = threading.Lock()

    def _get_bucket(self):
        with self._lock:
            if self._bucket is None:
                from google.cloud import storage

                if os.environ.get("STORAGE_EMULATOR_HOST"):
                    from google.auth.credentials import AnonymousCredentials

                    client = storage.Client(project=self.project, credentials=AnonymousCredentials())
                else:
                    client = storage.Client(project=self.project)
                self._bucket = client.bucket(self.bucket_name)
            return self._bucket

    def put_sync(self, name: str, data: bytes, metadata: dict[str, str], content_type: str = "image/jpeg") -> str:
        blob = self._get_bucket().blob(name)
        blob.metadata = {k: str(v) for k, v in metadata.items() if v is not None}
        # if_generation_match=0: a name is written once, never overwritten
        blob.upload_from_string(data, content_type=content_type, if_generation_match=0)
        return name

    def get_sync(self, name: str, generation: str | int | None = None) -> bytes:
        blob = self._get_bucket().blob(name, generation=int(generation) if generation else None)
        return blob.download_as_bytes()

    def delete_prefix_sync(self, prefix: str) -> int:
        blobs = list(self._get_bucket().list_blobs(prefix=prefix))
        for blob in blobs:
            blob.delete()
        return len(blobs)

    async def delete_prefix(self, prefix: str) -> int:
        """Erasure: every stored photo under `prefix` (photos/{owner}/ or photos/{owner}/{pet}/)."""
        return await asyncio.to_thread(self.delete_prefix_sync, prefix)

    async def put(self, name: str, data: bytes, metadata: dict[str, str], content_type: str = "image/jpeg") -> str:
        return await asyncio.to_thread(self.put_sync, name, data, metadata, content_type)

    async def get(self, name: str, generation: str | int | None = None) -> bytes:
        return await asyncio.to_thread(self.get_sync, name, generation)
