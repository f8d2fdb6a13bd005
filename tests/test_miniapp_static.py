"""The Mini App function's static files (functions/miniapp_api.py): the built front end from a folder,
client-side routes to index.html, nothing outside the folder, 503 when not built, CSP on the page."""
from __future__ import annotations

import pytest

from shared.config import MiniAppSettings


def _serve(path, folder):
    from functions.miniapp_api import serve_static

    return serve_static(path, MiniAppSettings(static_dir=str(folder), frame_origins=("https://telemed.daily.co",)))


def test_not_built_is_a_clear_503(tmp_path):
    r = _serve("/", tmp_path / "dist")
    assert r.status_code == 503 and b"not built" in r.data and r.headers["Cache-Control"] == "no-store"


def test_files_routes_and_nothing_outside(tmp_path):
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><div id=root></div>")
    (dist / "assets" / "app-1a2b.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("no")
    page = _serve("/", dist)
    assert page.status_code == 200 and b"root" in page.data and page.headers["Cache-Control"] == "no-cache"
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors https://web.telegram.org" in csp and "https://telemed.daily.co" in csp
    assert "script-src 'self' https://telegram.org" in csp and "object-src 'none'" in csp
    js = _serve("/assets/app-1a2b.js", dist)
    assert js.status_code == 200 and js.data == b"console.log(1)" and "immutable" in js.headers["Cache-Control"]
    assert js.mimetype in ("text/javascript", "application/javascript")
    route = _serve("/pets/abc/diary", dist)   # a client-side route
    assert route.status_code == 200 and b"root" in route.data
    assert _serve("/assets/missing.js", dist).status_code == 404
    for sneaky in ("/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt"):
        r = _serve(sneaky, dist)
        assert b"no" != r.data and r.status_code in (200, 404), sneaky
        assert r.status_code == 404 or b"root" in r.data


def test_the_function_answers_api_without_init_data_401_and_serves_pages(tmp_path, monkeypatch):
    import functions.miniapp_api as fn

    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<div id=root></div>")
    monkeypatch.setattr(fn, "_settings", MiniAppSettings(static_dir=str(dist)))
    from flask import Flask

    app = Flask(__name__)
    with app.test_request_context("/pets", method="GET"):
        from flask import request

        assert fn.miniapp_api(request).status_code == 200
    with app.test_request_context("/api/pets", method="OPTIONS", headers={"Origin": "https://evil.example"}):
        from flask import request

        r = fn.miniapp_api(request)
        assert r.status_code == 204 and "Access-Control-Allow-Origin" not in r.headers


def test_media_origins_take_livekits_websocket_server():
    """livekit-client connects by WebSocket: a wss:// server must reach the page's connect-src."""
    from functions.miniapp_api import content_security_policy

    config = MiniAppSettings.from_env({"MINIAPP_MEDIA_ORIGINS": "wss://lk.example.com, https://telemed.daily.co"})
    assert config.frame_origins == ("wss://lk.example.com", "https://telemed.daily.co")
    assert "connect-src 'self' wss://lk.example.com https://telemed.daily.co" in content_security_policy(config)
    with pytest.raises(RuntimeError, match="MINIAPP_MEDIA_ORIGINS"):
        MiniAppSettings.from_env({"MINIAPP_MEDIA_ORIGINS": "ws://lk.example.com"})


def test_the_media_origins_default_to_the_configured_video_provider():
    """A deployment that sets only its video settings still frames its rooms (serverless.yml leaves
    MINIAPP_MEDIA_ORIGINS empty by default)."""
    daily = MiniAppSettings.from_env({"DAILY_DOMAIN": "telemed-pet"})
    assert daily.frame_origins == ("https://telemed-pet.daily.co", "https://telemed-pet.dailywebrtc.com")
    livekit = MiniAppSettings.from_env({"VIDEO_PROVIDER": "livekit", "LIVEKIT_URL": "https://lk.example.com/"})
    assert livekit.frame_origins == ("wss://lk.example.com",)
    assert MiniAppSettings.from_env({"VIDEO_PROVIDER": "livekit"}).frame_origins == ()
    named = MiniAppSettings.from_env({"DAILY_DOMAIN": "telemed-pet", "MINIAPP_MEDIA_ORIGINS": "https://x.daily.co"})
    assert named.frame_origins == ("https://x.daily.co",)
