// Start-up: wait for Telegram's WebApp object, apply its theme, ask who this is (GET /api/me) while the
// first screen's data is already on its way, pick the language, render.
import { createRoot } from "react-dom/client";
import App, { Blocked } from "./App.jsx";
import { get } from "./api.js";
import { prefetch } from "./data.js";
import { pickLanguage, setLanguage } from "./i18n.js";
import { startWebApp, waitForWebApp } from "./tg.js";
import "./styles.css";

// The bot's zone for an owner who never chose one (shared/domain/reminders.DEFAULT_TIMEZONE).
const DEFAULT_ZONE = "Europe/Moscow";

async function boot() {
  const root = createRoot(document.getElementById("root"));
  const wa = await waitForWebApp();
  startWebApp(wa);
  const user = wa && wa.initDataUnsafe && wa.initDataUnsafe.user;
  setLanguage(pickLanguage(user && user.language_code));
  if (!wa || !wa.initData) {
    root.render(<Blocked reason="outside" />);
    return;
  }
  if (window.location.pathname === "/") prefetch("/api/pets");
  let me;
  try {
    me = await get("/api/me");
  } catch (err) {
    root.render(<Blocked reason={err.status === 401 ? "expired" : "offline"} />);
    return;
  }
  setLanguage(pickLanguage(me.language, user && user.language_code));
  me.timezone = me.timezone || DEFAULT_ZONE;
  if (!me.registered) {
    root.render(<Blocked reason="not_registered" />);
    return;
  }
  root.render(<App me={me} />);
}

boot();
