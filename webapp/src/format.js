// Dates, times and money in the person's language and time zone.
import { locale, t, tn } from "./i18n.js";

export function formatMoney(money) {
  if (!money) return "";
  if (money.currency === "XTR") return t("webapp.money.stars", { n: money.amount });
  const value = money.amount / 100;
  return new Intl.NumberFormat(locale(), {
    style: "currency", currency: money.currency, currencyDisplay: "narrowSymbol", maximumFractionDigits: value % 1 ? 2 : 0,
  }).format(value);
}

export function formatKg(kg) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: 3 }).format(kg);
}

const fmt = (opts, tz) => new Intl.DateTimeFormat(locale(), { ...opts, ...(tz ? { timeZone: tz } : {}) });

export function formatTime(iso, tz) {
  return fmt({ hour: "2-digit", minute: "2-digit", hourCycle: "h23" }, tz).format(new Date(iso));
}

export function formatDateTime(iso, tz) {
  return fmt({ weekday: "short", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }, tz)
    .format(new Date(iso));
}

// A calendar date (YYYY-MM-DD) as written, whatever the zone: read at noon UTC, shown in UTC.
export function formatDate(date, opts = { day: "numeric", month: "long", year: "numeric" }) {
  return fmt(opts, "UTC").format(new Date(`${date}T12:00:00Z`));
}

export function dayParts(date) {
  const d = new Date(`${date}T12:00:00Z`);
  return {
    weekday: fmt({ weekday: "short" }, "UTC").format(d),
    day: fmt({ day: "numeric" }, "UTC").format(d),
    month: fmt({ month: "short" }, "UTC").format(d),
  };
}

// Today's date in a zone, as YYYY-MM-DD.
export function todayIn(tz) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: tz || undefined, year: "numeric", month: "2-digit", day: "2-digit" })
    .formatToParts(new Date());
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

export function addDays(date, n) {
  const d = new Date(`${date}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

export function ageText(birthDate, approximate) {
  if (!birthDate) return null;
  const born = new Date(`${birthDate}T12:00:00Z`);
  const now = new Date();
  let months = (now.getUTCFullYear() - born.getUTCFullYear()) * 12 + (now.getUTCMonth() - born.getUTCMonth());
  if (now.getUTCDate() < born.getUTCDate()) months -= 1;
  months = Math.max(0, months);
  const text = months >= 12 ? tn("webapp.age.years", Math.floor(months / 12)) : tn("webapp.age.months", months);
  return approximate ? t("value.age_approx", { age: text }) : text;
}

export function speciesLabel(species) {
  return t(`species.${species}`);
}
