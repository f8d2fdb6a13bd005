"""Checks the OIDC token Cloud Tasks attaches to a task (``oidc_token``): signed by Google, for this
function's URL, of the tasks' service account. booking_callbacks is deployed --allow-unauthenticated (the
providers' webhooks carry no Google identity), so this is checked in the function, on task requests only,
when TASKS_SERVICE_ACCOUNT is set (production); the shared X-Tasks-Token is checked always.

google-auth (a dependency of the Google clients) verifies the signature against Google's public
certificates and the audience; ``request`` lets tests hand it their own certificates.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)
_request = None


def tasks_caller_ok(authorization: str | None, audience: str, service_account: str, request=None) -> bool:
    if not authorization or not authorization.startswith("Bearer ") or not audience:
        return False
    from google.auth import exceptions
    from google.oauth2 import id_token

    try:
        claims = id_token.verify_oauth2_token(authorization[len("Bearer "):], request or _google_request(),
                                              audience=audience)
    except (ValueError, exceptions.GoogleAuthError) as err:
        log.warning("task with an invalid OIDC token: %s", type(err).__name__)
        return False
    return claims.get("email") == service_account and claims.get("email_verified") is True


def _google_request():
    global _request
    if _request is None:
        from google.auth.transport import requests as google_requests

        _request = google_requests.Request()
    return _request
