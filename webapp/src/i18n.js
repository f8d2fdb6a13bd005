// Strings from the project's gettext catalogs (webapp.po and the bot keys it reuses), exported to
// i18n/catalog.json by `python -m infra.webapp_i18n`. Placeholders use Python's {name} syntax.
import catalog from "./i18n/catalog.json";

export const LANGUAGES = Object.keys(catalog);
let current = "ru";

export function pickLanguage(...candidates) {
  for (const c of candidates) {
    const code = (c || "").toLowerCase().split("-")[0];
    if (catalog[code]) return code;
  }
  return "ru";
}

export function setLanguage(lang) {
  current = catalog[lang] ? lang : "ru";
  document.documentElement.lang = current;
}

export const language = () => current;
export const locale = () => (current === "ru" ? "ru-RU" : "en-GB");

export function t(key, params) {
  const text = catalog[current][key] ?? catalog.ru[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (params[name] === undefined ? m : String(params[name])));
}

// Plural forms by the language's CLDR category: keys base.one / base.few / base.many / base.other.
export function tn(base, n, params) {
  const category = new Intl.PluralRules(locale()).select(n);
  const key = catalog[current][`${base}.${category}`] ? `${base}.${category}` : `${base}.other`;
  return t(key, { n, ...(params || {}) });
}
