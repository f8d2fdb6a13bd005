// Days with free times (a strip of `count` days from today in `tz`, days without slots disabled), then the
// chosen day's times: the vet's calendar and a booking's reschedule.
import { t } from "../i18n.js";
import { addDays, dayParts, formatDate, formatTime, todayIn } from "../format.js";
import { haptic } from "../tg.js";

export default function SlotPicker({ days, tz, count, day, slot, onDay, onSlot }) {
  const byDate = new Map(days.map((d) => [d.date, d.slots]));
  const today = todayIn(tz);
  const dates = Array.from({ length: count }, (_, i) => addDays(today, i));
  for (const d of byDate.keys()) if (!dates.includes(d)) dates.push(d);
  const slots = (day && byDate.get(day)) || [];
  return (
    <>
      <div className="days" role="radiogroup" aria-label={t("webapp.calendar.days")}>
        {dates.map((date) => {
          const free = (byDate.get(date) || []).length;
          const parts = dayParts(date);
          return (
            <button key={date} type="button" role="radio" aria-checked={day === date} disabled={!free}
                    className={day === date ? "day day-on" : "day"} data-date={date}
                    aria-label={`${formatDate(date, { weekday: "long", day: "numeric", month: "long" })}: ${
                      free ? t("webapp.calendar.free", { n: free }) : t("webapp.calendar.none")}`}
                    onClick={() => { haptic.select(); onDay(date); }}>
              <span className="day-wd">{parts.weekday}</span>
              <span className="day-n">{parts.day}</span>
              <span className="day-m">{parts.month}</span>
            </button>
          );
        })}
      </div>
      {!byDate.size && <p className="empty">{t("webapp.calendar.empty")}</p>}
      {day && (
        <>
          <h2 className="section-title">{formatDate(day, { weekday: "long", day: "numeric", month: "long" })}</h2>
          <div className="slots" role="radiogroup" aria-label={t("webapp.calendar.times")}>
            {slots.map((s) => (
              <button key={s.start} type="button" role="radio" aria-checked={slot === s.start} data-start={s.start}
                      className={slot === s.start ? "slot slot-on" : "slot"}
                      onClick={() => { haptic.select(); onSlot(s.start); }}>
                {formatTime(s.start, tz)}
              </button>
            ))}
          </div>
        </>
      )}
    </>
  );
}

// The first day with a free time, for a picker to open on.
export const firstFreeDay = (days) => (days.find((d) => d.slots.length) || {}).date || null;
