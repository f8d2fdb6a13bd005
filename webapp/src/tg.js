// The Telegram Mini App API (window.Telegram.WebApp), used directly: theme, viewport, main and back
// buttons, haptics, invoices, links. Everything here tolerates an older client that lacks a method.
import { useEffect, useRef } from "react";

export function webApp() {
  return (typeof window !== "undefined" && window.Telegram && window.Telegram.WebApp) || null;
}

// telegram-web-app.js is a classic script before the app's module, so it is normally there already; when
// it failed to load (no network) or is injected late, wait a little, then start without it.
export function waitForWebApp(timeoutMs = 1500) {
  const now = webApp();
  if (now) return Promise.resolve(now);
  return new Promise((resolve) => {
    const started = Date.now();
    const tick = () => {
      const wa = webApp();
      if (wa || Date.now() - started >= timeoutMs) resolve(wa);
      else setTimeout(tick, 25);
    };
    tick();
  });
}

// Defaults close to Telegram's own palettes, for keys a client does not send.
const DEFAULTS = {
  light: {
    bg_color: "#ffffff", text_color: "#000000", hint_color: "#707579", link_color: "#2481cc",
    button_color: "#2481cc", button_text_color: "#ffffff", secondary_bg_color: "#f4f4f5",
    section_bg_color: "#ffffff", accent_text_color: "#2481cc", destructive_text_color: "#d32f2f",
    section_header_text_color: "#6d6d72", subtitle_text_color: "#707579", header_bg_color: "#ffffff",
  },
  dark: {
    bg_color: "#17212b", text_color: "#f5f5f5", hint_color: "#8b9aa7", link_color: "#6ab3f3",
    button_color: "#5288c1", button_text_color: "#ffffff", secondary_bg_color: "#232e3c",
    section_bg_color: "#17212b", accent_text_color: "#6ab2f2", destructive_text_color: "#ff6b6b",
    section_header_text_color: "#6ab3f3", subtitle_text_color: "#8b9aa7", header_bg_color: "#17212b",
  },
};

export function applyTheme(wa) {
  const scheme = wa && wa.colorScheme === "dark" ? "dark" : "light";
  const params = { ...DEFAULTS[scheme], ...((wa && wa.themeParams) || {}) };
  const root = document.documentElement;
  root.dataset.scheme = scheme;
  root.style.colorScheme = scheme;
  for (const [key, value] of Object.entries(params)) {
    if (typeof value === "string") root.style.setProperty(`--tg-${key.replace(/_/g, "-")}`, value);
  }
}

export function applyViewport(wa) {
  const root = document.documentElement;
  const h = wa && wa.viewportHeight;
  const stable = wa && wa.viewportStableHeight;
  root.style.setProperty("--tg-viewport-height", h ? `${h}px` : "100vh");
  root.style.setProperty("--tg-viewport-stable-height", stable ? `${stable}px` : "100vh");
}

export function startWebApp(wa) {
  applyTheme(wa);
  applyViewport(wa);
  if (!wa) return;
  wa.onEvent && wa.onEvent("themeChanged", () => applyTheme(wa));
  wa.onEvent && wa.onEvent("viewportChanged", () => applyViewport(wa));
  wa.ready && wa.ready();
  wa.expand && wa.expand();
}

export const haptic = {
  success: () => webApp()?.HapticFeedback?.notificationOccurred?.("success"),
  error: () => webApp()?.HapticFeedback?.notificationOccurred?.("error"),
  warning: () => webApp()?.HapticFeedback?.notificationOccurred?.("warning"),
  select: () => webApp()?.HapticFeedback?.selectionChanged?.(),
};

// The screen's primary action on Telegram's main button. `text` null hides it.
export function useMainButton(text, onClick, { active = true, progress = false } = {}) {
  const handler = useRef(onClick);
  handler.current = onClick;
  useEffect(() => {
    const button = webApp()?.MainButton;
    if (!button || !text) return undefined;
    const listener = () => handler.current && handler.current();
    button.onClick(listener);
    return () => {
      button.offClick(listener);
      button.hide();
    };
  }, [text]);
  useEffect(() => {
    const button = webApp()?.MainButton;
    if (!button) return;
    if (!text) {
      button.hide();
      return;
    }
    button.setParams({ text, is_visible: true, is_active: active && !progress });
    if (progress) button.showProgress && button.showProgress(false);
    else button.hideProgress && button.hideProgress();
  }, [text, active, progress]);
}

// Telegram's back button on every screen but the first.
export function useBackButton(onBack) {
  const handler = useRef(onBack);
  handler.current = onBack;
  const shown = Boolean(onBack);
  useEffect(() => {
    const button = webApp()?.BackButton;
    if (!button) return undefined;
    if (!shown) {
      button.hide();
      return undefined;
    }
    const listener = () => handler.current && handler.current();
    button.onClick(listener);
    button.show();
    return () => button.offClick(listener);
  }, [shown]);
}

// createInvoiceLink's link opened inside Telegram; resolves with "paid" | "cancelled" | "failed" | "pending".
export function openInvoice(url) {
  const wa = webApp();
  return new Promise((resolve) => {
    if (!wa || !wa.openInvoice) {
      resolve("unsupported");
      return;
    }
    wa.openInvoice(url, (status) => resolve(status));
  });
}

export function openLink(url) {
  const wa = webApp();
  if (wa && wa.openLink) wa.openLink(url);
  else window.open(url, "_blank", "noopener");
}

export function confirmDialog(text) {
  const wa = webApp();
  return new Promise((resolve) => {
    if (wa && wa.showConfirm && wa.isVersionAtLeast && wa.isVersionAtLeast("6.2")) wa.showConfirm(text, resolve);
    else resolve(window.confirm(text));
  });
}
