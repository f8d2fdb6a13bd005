// The diary's last seven days in the chat's words (/diary's week): weight, activity, mood, appetite, food.
import { t } from "../i18n.js";
import { formatDate, formatKg } from "../format.js";
import { locale } from "../i18n.js";

const one = (n) => new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(n);

export default function WeekSummary({ week, weights }) {
  const lines = [];
  if (weights && weights.length) {
    lines.push(t("diary.week_weight", { weight: t("webapp.kg", { kg: formatKg(weights[weights.length - 1].kg) }), n: weights.length }));
  } else lines.push(t("diary.week_no_weight"));
  if (week.minutes || week.mood != null || week.appetite != null) {
    if (week.minutes) lines.push(t("webapp.week.activity", { minutes: week.minutes }));
    if (week.mood != null) lines.push(t("diary.week_mood", { mood: one(week.mood) }));
    if (week.appetite != null) lines.push(t("diary.week_appetite", { appetite: one(week.appetite) }));
  } else lines.push(t("diary.week_no_activity"));
  if (week.kcal_per_day != null) lines.push(t("diary.week_kcal", { kcal: Math.round(week.kcal_per_day) }));
  if (week.requirement_kcal != null) lines.push(t("webapp.week.requirement", { kcal: Math.round(week.requirement_kcal) }));
  const short = { day: "numeric", month: "short" };
  return (
    <div className="week" data-testid="week">
      <p className="row-sub">{t("webapp.week.title", { first: formatDate(week.first, short), last: formatDate(week.last, short) })}</p>
      <ul className="plain">{lines.map((line) => <li key={line}>{line}</li>)}</ul>
    </div>
  );
}
