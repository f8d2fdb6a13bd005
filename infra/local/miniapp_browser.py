"""The Mini App in headless Chromium as Telegram would open it: Debian's /usr/bin/chromium driven by
Playwright (browsers cannot be downloaded here), with a ``window.Telegram.WebApp`` stand-in injected before
the page's scripts run. Used by tests/test_miniapp_ui.py and benchmarks/miniapp_ui.py.

The stand-in carries initData signed with the stack's bot token (shared.miniapp.init_data.sign), the theme
(light or dark Telegram palettes), the viewport, and records what the app asks of Telegram in
``window.__tg``: haptics, the main and back buttons' state, invoices and links opened, ready()/expand().
Telegram draws the main button below the web view; the stand-in draws it as a bar at the bottom of the page
(``#tg-main-button``, sticky at the page's end) so screenshots show it and a test can press it. ``openInvoice(url, cb)`` asks the
Python side (``pay``: e.g. the Bot API double plays Telegram's payment form) and calls back with its status.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote, urlencode

from shared.miniapp.init_data import sign

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Background networking and component updates must be off on this machine (they reach for Google's hosts).
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")
VIEWPORT = {"width": 390, "height": 780}
MAIN_BUTTON_HEIGHT = 56

THEMES = {
    "light": {"bg_color": "#ffffff", "text_color": "#000000", "hint_color": "#707579", "link_color": "#2481cc",
              "button_color": "#2481cc", "button_text_color": "#ffffff", "secondary_bg_color": "#efeff4",
              "header_bg_color": "#ffffff", "accent_text_color": "#2481cc", "section_bg_color": "#ffffff",
              "section_header_text_color": "#6d6d72", "subtitle_text_color": "#707579",
              "destructive_text_color": "#d14e4e", "bottom_bar_bg_color": "#ffffff"},
    "dark": {"bg_color": "#17212b", "text_color": "#f5f5f5", "hint_color": "#8b9aa7", "link_color": "#6ab3f3",
             "button_color": "#5288c1", "button_text_color": "#ffffff", "secondary_bg_color": "#0e1621",
             "header_bg_color": "#17212b", "accent_text_color": "#6ab2f2", "section_bg_color": "#17212b",
             "section_header_text_color": "#6ab3f3", "subtitle_text_color": "#8b9aa7",
             "destructive_text_color": "#ef5b5b", "bottom_bar_bg_color": "#17212b"},
}


def init_data(user_id: int, bot_token: str, *, language: str = "ru", first_name: str = "Anna",
              auth_date: int | None = None) -> str:
    """initData as Telegram builds it for `user_id`, signed with `bot_token`."""
    user = json.dumps({"id": user_id, "first_name": first_name, "language_code": language,
                       "allows_write_to_pm": True}, ensure_ascii=False, separators=(",", ":"))
    pairs = {"query_id": f"AAH{user_id}", "user": user, "auth_date": str(auth_date or int(time.time()) - 2)}
    return urlencode([*pairs.items(), ("hash", sign(pairs, bot_token))], quote_via=quote)


_STAND_IN = r"""
(() => {
  const cfg = __CONFIG__;
  const log = { haptics: [], invoices: [], links: [], ready: 0, expand: 0,
                main: { text: "", visible: false, active: true, progress: false }, back: { visible: false } };
  window.__tg = log;
  const handlers = { main: [], back: [], events: {} };
  let bar = null;
  function drawMain() {
    if (!document.body) return;
    if (!bar) {
      bar = document.createElement("button");
      bar.id = "tg-main-button";
      bar.type = "button";
      bar.addEventListener("click", () => { if (log.main.active) handlers.main.slice().forEach((f) => f()); });
      document.body.append(bar);
    }
    const theme = cfg.themeParams;
    // sticky at the end of the page: on screen it stays at the bottom as Telegram's does, and a full-page
    // screenshot shows it below the content instead of over it
    Object.assign(bar.style, { position: "sticky", bottom: "0", width: "100%", height: cfg.mainHeight + "px",
      border: "0", font: "600 16px -apple-system, Roboto, sans-serif", zIndex: "2147483647",
      background: theme.button_color, color: theme.button_text_color,
      boxShadow: "0 -1px 0 " + theme.secondary_bg_color, display: log.main.visible ? "block" : "none",
      opacity: log.main.active ? "1" : "0.6" });
    bar.textContent = log.main.progress ? "…" : log.main.text;
    bar.disabled = !log.main.active;
  }
  document.addEventListener("DOMContentLoaded", drawMain);
  const MainButton = {
    get text() { return log.main.text; }, get isVisible() { return log.main.visible; },
    get isActive() { return log.main.active; }, get isProgressVisible() { return log.main.progress; },
    color: cfg.themeParams.button_color, textColor: cfg.themeParams.button_text_color,
    setText(text) { log.main.text = text; drawMain(); return MainButton; },
    setParams(p) {
      if ("text" in p) log.main.text = p.text;
      if ("is_visible" in p) log.main.visible = Boolean(p.is_visible);
      if ("is_active" in p) log.main.active = Boolean(p.is_active);
      drawMain(); return MainButton;
    },
    show() { log.main.visible = true; drawMain(); return MainButton; },
    hide() { log.main.visible = false; drawMain(); return MainButton; },
    enable() { log.main.active = true; drawMain(); return MainButton; },
    disable() { log.main.active = false; drawMain(); return MainButton; },
    showProgress() { log.main.progress = true; drawMain(); return MainButton; },
    hideProgress() { log.main.progress = false; drawMain(); return MainButton; },
    onClick(f) { handlers.main.push(f); return MainButton; },
    offClick(f) { handlers.main = handlers.main.filter((g) => g !== f); return MainButton; },
  };
  const BackButton = {
    get isVisible() { return log.back.visible; },
    show() { log.back.visible = true; return BackButton; },
    hide() { log.back.visible = false; return BackButton; },
    onClick(f) { handlers.back.push(f); return BackButton; },
    offClick(f) { handlers.back = handlers.back.filter((g) => g !== f); return BackButton; },
  };
  window.__tgPress = {
    main() { if (!log.main.visible || !log.main.active) throw new Error("main button not pressable: " + JSON.stringify(log.main)); handlers.main.slice().forEach((f) => f()); },
    back() { if (!log.back.visible) throw new Error("back button hidden"); handlers.back.slice().forEach((f) => f()); },
  };
  const unsafe = Object.fromEntries(new URLSearchParams(cfg.initData));
  if (unsafe.user) unsafe.user = JSON.parse(unsafe.user);
  if (unsafe.auth_date) unsafe.auth_date = Number(unsafe.auth_date);
  const WebApp = {
    initData: cfg.initData, initDataUnsafe: unsafe, version: "8.0", platform: "android",
    colorScheme: cfg.colorScheme, themeParams: cfg.themeParams, isExpanded: false,
    viewportHeight: cfg.viewportHeight, viewportStableHeight: cfg.viewportHeight,
    headerColor: cfg.themeParams.header_bg_color, backgroundColor: cfg.themeParams.bg_color,
    MainButton, BackButton,
    HapticFeedback: {
      impactOccurred(style) { log.haptics.push("impact:" + style); return this; },
      notificationOccurred(type) { log.haptics.push(type); return this; },
      selectionChanged() { log.haptics.push("selection"); return this; },
    },
    isVersionAtLeast() { return true; },
    ready() { log.ready += 1; }, expand() { log.expand += 1; WebApp.isExpanded = true; }, close() { log.closed = true; },
    onEvent(name, f) { (handlers.events[name] = handlers.events[name] || []).push(f); },
    offEvent(name, f) { handlers.events[name] = (handlers.events[name] || []).filter((g) => g !== f); },
    openLink(url) { log.links.push(url); },
    openTelegramLink(url) { log.links.push(url); },
    showConfirm(message, cb) { log.confirms = (log.confirms || []).concat([message]); setTimeout(() => cb(cfg.confirm), 0); },
    showAlert(message, cb) { log.alerts = (log.alerts || []).concat([message]); setTimeout(() => cb && cb(), 0); },
    openInvoice(url, cb) {
      log.invoices.push(url);
      const pay = window.__tgPay ? window.__tgPay(url) : Promise.resolve("cancelled");
      Promise.resolve(pay).then((status) => {
        log.invoiceStatuses = (log.invoiceStatuses || []).concat([status]);
        (handlers.events.invoiceClosed || []).forEach((f) => f({ url, status }));
        cb && cb(status);
      });
    },
  };
  window.Telegram = { WebApp };
})();
"""


def stand_in_script(init: str, *, scheme: str = "light", viewport_height: int | None = None,
                    confirm: bool = True) -> str:
    config = {"initData": init, "colorScheme": scheme, "themeParams": THEMES[scheme], "confirm": confirm,
              "viewportHeight": viewport_height or VIEWPORT["height"] - MAIN_BUTTON_HEIGHT,
              "mainHeight": MAIN_BUTTON_HEIGHT}
    return _STAND_IN.replace("__CONFIG__", json.dumps(config, ensure_ascii=False))


def launch(playwright, *extra_args: str):
    """Debian's Chromium, headless, with a fresh profile (Playwright's own temporary user-data-dir)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: bash infra/setup.sh installs Debian's chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=[*CHROMIUM_ARGS, *extra_args])


def open_context(browser, init: str, *, scheme: str = "light", language: str = "ru",
                 pay: Callable[[str], str] | None = None, permissions: list[str] | None = None):
    """A new browser context (cold: no cache, no storage) as a Telegram web view with the stand-in."""
    context = browser.new_context(viewport=VIEWPORT, locale="ru-RU" if language == "ru" else "en-US",
                                  color_scheme=scheme, timezone_id="Europe/Moscow",
                                  permissions=permissions or [])
    # telegram.org is not reachable here; the app must start without it (the stand-in plays its part).
    context.route("https://telegram.org/**", lambda route: route.abort())
    context.add_init_script(stand_in_script(init, scheme=scheme))
    if pay is not None:
        context.expose_function("__tgPay", pay)
    return context


def tg_log(page) -> dict[str, Any]:
    return page.evaluate("() => JSON.parse(JSON.stringify(window.__tg))")


def press_main(page) -> None:
    page.evaluate("() => window.__tgPress.main()")


def press_back(page) -> None:
    page.evaluate("() => window.__tgPress.back()")
