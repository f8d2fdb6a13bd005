"""HTTPS function of the Telegram Mini App: its JSON API under /api/ and the built front end elsewhere.

    /api/...   every request carries `Authorization: tma <initData>` (shared/miniapp/API.md); JSON answers
    /...       files of webapp/dist (MINIAPP_STATIC_DIR), index.html for client-side routes; 503 when not built

Static files are served by the function itself, not from a bucket: one origin for the page and its API
(no CORS in the normal case, `connect-src 'self'`), one thing to deploy, and the files are small (the
first screen's JavaScript is budgeted at 150 KB gzip). Cloud CDN in front of the function can cache the
hashed assets (they are sent with a year's max-age); a bucket would add a second origin to allow.
"""
from __future__ import annotations

import json
import mimetypes
import threading
from pathlib import Path

import functions_framework
from flask import Response

from shared.config import MiniAppSettings, Settings

ROOT = Path(__file__).resolve().parents[1]
_lock = threading.Lock()
_miniapp = None
_settings: MiniAppSettings | None = None

NOT_BUILT = ("The Mini App is not built: run the front-end build (npm ci && npm run build in webapp/), "
             "or set MINIAPP_STATIC_DIR to the folder holding index.html.\n")


def settings() -> MiniAppSettings:
    global _settings
    if _settings is None:
        _settings = MiniAppSettings.from_env()
    return _settings


def _instance():
    global _miniapp
    with _lock:  # built once per instance, on the first API request
        if _miniapp is None:
            from shared.bootstrap import MiniAppInstance

            _miniapp = MiniAppInstance(Settings.from_env(), settings())
    return _miniapp


def static_dir(config: MiniAppSettings) -> Path:
    return Path(config.static_dir) if config.static_dir else ROOT / "webapp" / "dist"


def content_security_policy(config: MiniAppSettings) -> str:
    media = " ".join(config.frame_origins)
    return "; ".join([
        "default-src 'self'", "script-src 'self' https://telegram.org", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob: https:", "media-src 'self' blob:",
        f"connect-src 'self' {media}".strip(), f"frame-src {media}" if media else "frame-src 'none'",
        "frame-ancestors https://web.telegram.org https://*.telegram.org", "object-src 'none'", "base-uri 'self'",
    ])


def _cors(request, headers: dict) -> None:
    origin = request.headers.get("Origin", "")
    if origin and origin.rstrip("/") in settings().allowed_origins:
        headers.update({"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                        "Access-Control-Allow-Headers": "Authorization, Content-Type",
                        "Access-Control-Allow-Methods": "GET, POST, PATCH, PUT, DELETE", "Access-Control-Max-Age": "600"})


def _json(status: int, body: dict, request) -> Response:
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    _cors(request, headers)
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers,
                    content_type="application/json; charset=utf-8")


def _file(body, request) -> Response:
    """A file answer of the API (the PDF): private, not cached, named for the download."""
    from urllib.parse import quote

    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
               "Content-Disposition": f"attachment; filename=\"export.pdf\"; filename*=UTF-8''{quote(body.filename)}"}
    _cors(request, headers)
    return Response(body.data, status=200, headers=headers, content_type=body.content_type)


def serve_static(path: str, config: MiniAppSettings) -> Response:
    base = static_dir(config).resolve()
    index = base / "index.html"
    if not index.is_file():
        return Response(NOT_BUILT, status=503, content_type="text/plain; charset=utf-8",
                        headers={"Cache-Control": "no-store", "Retry-After": "60"})
    wanted = (base / path.lstrip("/")).resolve() if path.strip("/") else index
    if base != wanted and base not in wanted.parents:  # ../ out of the folder
        return Response("not found\n", status=404, content_type="text/plain")
    if not wanted.is_file():
        if "." in wanted.name:  # a missing asset is a 404, not the page
            return Response("not found\n", status=404, content_type="text/plain")
        wanted = index       # a client-side route
    kind = mimetypes.guess_type(wanted.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "application/json", "image/svg+xml"):
        kind += "; charset=utf-8"
    headers = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
    if wanted == index:
        headers.update({"Cache-Control": "no-cache", "Content-Security-Policy": content_security_policy(config)})
    elif "/assets/" in wanted.as_posix():
        headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        headers["Cache-Control"] = "public, max-age=300"
    return Response(wanted.read_bytes(), status=200, content_type=kind, headers=headers)


@functions_framework.http
def miniapp_api(request):
    path = request.path or "/"
    if path == "/api" or path.startswith("/api/"):
        if request.method == "OPTIONS":  # a CORS preflight: no initData is sent with it
            response = Response(status=204)
            _cors(request, response.headers)
            return response
        from shared.miniapp.router import MAX_PHOTO, FileBody, Request

        if (request.content_length or 0) > MAX_PHOTO + 64 * 1024:  # not read at all (a photo and its form)
            return _json(413, {"error": "too_large"}, request)
        req = Request(method=request.method, path=path,
                      headers={k.lower(): v for k, v in request.headers.items()},
                      query={k: v for k, v in request.args.items()}, body=request.get_data(cache=False))
        status, body = _instance().handle(req)
        if isinstance(body, FileBody):
            return _file(body, request)
        return _json(status, body, request)
    if request.method not in ("GET", "HEAD"):
        return Response("method not allowed\n", status=405, content_type="text/plain")
    return serve_static(path, settings())
