// A small history router: paths like /pets/abc; Telegram's back button calls history.back().
import { useEffect, useState } from "react";

const listeners = new Set();

function current() {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}

export function navigate(to, { replace = false } = {}) {
  if (replace) window.history.replaceState({ depth: depth() }, "", to);
  else window.history.pushState({ depth: depth() + 1 }, "", to);
  window.scrollTo(0, 0);
  listeners.forEach((fn) => fn());
}

// How many screens deep this history entry is (0 = the screen the app opened on).
export function depth() {
  return (window.history.state && window.history.state.depth) || 0;
}

// What a screen keeps in its own history entry (its list's page, say), so that coming back to the entry
// (history.back) finds it as it was left, while a new visit (navigate) starts afresh.
export function entryState(key) {
  return window.history.state ? window.history.state[key] : undefined;
}

export function keepEntryState(key, value) {
  window.history.replaceState({ ...window.history.state, [key]: value }, "", window.location.href);
}

// Back, or to `fallback` when the app was opened on this screen (a deep link).
export function goBack(fallback = "/") {
  if (depth() > 0) window.history.back();
  else navigate(fallback, { replace: true });
}

export function useRoute() {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    const update = () => setRoute(current());
    listeners.add(update);
    window.addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return route;
}

// match("/pets/:id", "/pets/7") -> {id: "7"}; null when it does not match.
export function match(pattern, path) {
  const p = pattern.split("/").filter(Boolean);
  const s = path.split("/").filter(Boolean);
  if (p.length !== s.length) return null;
  const params = {};
  for (let i = 0; i < p.length; i += 1) {
    if (p[i].startsWith(":")) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}
