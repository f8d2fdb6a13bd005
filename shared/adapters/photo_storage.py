"""Cloud Storage for cleaned photos (google-cloud-storage; honours STORAGE_EMULATOR_HOST).

The client library is imported on first use, not at import time: the webhook only pays for it when
a photo arrives. Object names carry no names and no Telegram ids: photos/{owner folder}/{pet}/{photo id}.jpg
(the owner folder is a keyed hash, services.pets.photo_prefix), and its triage copy
photos/{owner folder}/{pet}/analysis/{photo id}.jpg. Metadata (all strings, as Cloud Storage wants) holds the
ids that find the photo's record in Firestore.

Signed URLs (V4, GET, short-lived: a vet's view of a patient's photo) are signed as the function's own
service account through the IAM Credentials API (signBlob: the account needs
roles/iam.serviceAccountTokenCreator on itself), or by the key of a service-account key file when the
credentials have one. Locally (STORAGE_EMULATOR_HOST) no credentials can sign: the URL is signed by a
throwaway key made once per process and points at the emulator, which serves /{bucket}/{object} without
checking signatures; its form and expiry are what Cloud Storage gets.
"""
from __future__ import annotations

import asyncio
import os
import threading
from datetime import timedelta
from functools import cache

STAT_RETRY_SECONDS = 30.0  # the triage function has 120 s: a Storage outage fails the event, which is retried


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

    def stat_sync(self, name: str) -> tuple[str, dict[str, str]] | None:
        """(generation, metadata) of the object as it is now, or None if there is none. Other errors raise
        (after the client's retries, bounded well inside the triage function's timeout)."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self._get_bucket().get_blob(name, timeout=10, retry=DEFAULT_RETRY.with_timeout(STAT_RETRY_SECONDS))
        return None if blob is None else (str(blob.generation), dict(blob.metadata or {}))

    def delete_sync(self, name: str) -> None:
        """Deletes the object if it is there."""
        from google.api_core.exceptions import NotFound

        try:
            self._get_bucket().blob(name).delete()
        except NotFound:
            pass

    def list_names_sync(self, prefix: str) -> list[str]:
        return sorted(blob.name for blob in self._get_bucket().list_blobs(prefix=prefix))

    def signed_url_sync(self, name: str, valid: timedelta) -> str:
        blob = self._get_bucket().blob(name)
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        if emulator:
            return blob.generate_signed_url(version="v4", expiration=valid, method="GET",
                                            credentials=_local_signer(), api_access_endpoint=emulator)
        credentials = self._signing_credentials()
        if hasattr(credentials, "sign_bytes"):  # a key file's account signs locally
            return blob.generate_signed_url(version="v4", expiration=valid, method="GET", credentials=credentials)
        return blob.generate_signed_url(version="v4", expiration=valid, method="GET",
                                        service_account_email=credentials.service_account_email,
                                        access_token=credentials.token)

    def _signing_credentials(self):
        with self._lock:
            if getattr(self, "_credentials", None) is None:
                import google.auth

                self._credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            credentials = self._credentials
            if not hasattr(credentials, "sign_bytes") and not credentials.valid:
                from google.auth.transport.requests import Request

                credentials.refresh(Request())  # also learns the metadata server's account e-mail
            return credentials

    def delete_prefix_sync(self, prefix: str) -> int:
        from google.api_core.exceptions import NotFound

        blobs = list(self._get_bucket().list_blobs(prefix=prefix))
        for blob in blobs:
            try:
                blob.delete()
            except NotFound:  # deleted since the listing (an upload that found its person erased): go on
                pass
        return len(blobs)

    async def delete_prefix(self, prefix: str) -> int:
        """Erasure: every stored photo under `prefix` (photos/{owner}/ or photos/{owner}/{pet}/)."""
        return await asyncio.to_thread(self.delete_prefix_sync, prefix)

    async def list_names(self, prefix: str) -> list[str]:
        """Names of the objects under `prefix`, sorted."""
        return await asyncio.to_thread(self.list_names_sync, prefix)

    async def signed_url(self, name: str, valid: timedelta) -> str:
        """A V4 signed URL that lets whoever has it GET the object for `valid` (a few minutes)."""
        return await asyncio.to_thread(self.signed_url_sync, name, valid)

    async def put(self, name: str, data: bytes, metadata: dict[str, str], content_type: str = "image/jpeg") -> str:
        return await asyncio.to_thread(self.put_sync, name, data, metadata, content_type)

    async def get(self, name: str, generation: str | int | None = None) -> bytes:
        return await asyncio.to_thread(self.get_sync, name, generation)

    async def stat(self, name: str) -> tuple[str, dict[str, str]] | None:
        return await asyncio.to_thread(self.stat_sync, name)

    async def delete(self, name: str) -> None:
        await asyncio.to_thread(self.delete_sync, name)


@cache
def _local_signer():
    """A service account that exists nowhere, with a key made now: signs URLs for the Storage emulator."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return service_account.Credentials.from_service_account_info({
        "type": "service_account", "client_email": "local-signer@telemed-pet-local.iam.gserviceaccount.com",
        "private_key": pem, "token_uri": "https://oauth2.googleapis.com/token", "project_id": "telemed-pet-local"})
