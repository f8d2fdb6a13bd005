// 14 days of a vet's free times in the owner's zone: pick a day, then a time; the main button goes on.
import { useEffect, useState } from "react";
import { t } from "../i18n.js";
import { useApi } from "../data.js";
import { goBack, navigate } from "../router.js";
import { addDays, dayParts, formatDate, formatMoney, formatTime, todayIn } from "../format.js";
import { haptic, useBackButton, useMainButton } from "../tg.js";
import { ErrorNote, Loading, Screen } from "../components/ui.jsx";
import { rememberVet } from "../selection.js";
import { useMe } from "../me.js";

export const DAYS = 14;

export default function Calendar({ petId, vetId }) {
  const { data, error, loading, reload } = useApi(
    `/api/vets/${encodeURIComponent(vetId)}/calendar?pet=${encodeURIComponent(petId)}&days=${DAYS}`);
  const [day, setDay] = useState(null);
  const [slot, setSlot] = useState(null);
  const me = useMe();
  const tz = (data && data.timezone) || me.timezone;
  const byDate = new Map(((data && data.days) || []).map((d) => [d.date, d.slots]));
  useEffect(() => {
    if (data && !day) {
      const first = data.days.find((d) => d.slots.length);
      if (first) setDay(first.date);
    }
  }, [data, day]);
  useBackButton(() => goBack(`/pets/${encodeURIComponent(petId)}/vets`));
  useMainButton(slot ? t("webapp.calendar.continue", { time: formatTime(slot, tz) }) : null, () => {
    rememberVet(data.vet);
    const q = new URLSearchParams({ start: slot });
    navigate(`/pets/${encodeURIComponent(petId)}/vets/${encodeURIComponent(vetId)}/book?${q}`);
  });
  if (loading && !data) return <Screen title={t("webapp.calendar.title")}><Loading /></Screen>;
  if (error) return <Screen title={t("webapp.calendar.title")}><ErrorNote error={error} onRetry={reload} /></Screen>;
  const vet = data.vet;
  const today = todayIn(tz);
  const dates = Array.from({ length: DAYS }, (_, i) => addDays(today, i));
  for (const d of byDate.keys()) if (!dates.includes(d)) dates.push(d);
  const slots = (day && byDate.get(day)) || [];
  return (
    <Screen title={t("webapp.calendar.title")}
            subtitle={vet ? `${vet.name} · ${formatMoney(vet.price)}` : null}>
      <p className="hint small">{t("webapp.calendar.zone", { zone: tz })}</p>
      <div className="days" role="radiogroup" aria-label={t("webapp.calendar.days")}>
        {dates.map((date) => {
          const free = (byDate.get(date) || []).length;
          const parts = dayParts(date);
          return (
            <button key={date} type="button" role="radio" aria-checked={day === date} disabled={!free}
                    className={day === date ? "day day-on" : "day"} data-date={date}
                    aria-label={`${formatDate(date, { weekday: "long", day: "numeric", month: "long" })}: ${
                      free ? t("webapp.calendar.free", { n: free }) : t("webapp.calendar.none")}`}
                    onClick={() => { haptic.select(); setDay(date); setSlot(null); }}>
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
                      onClick={() => { haptic.select(); setSlot(s.start); }}>
                {formatTime(s.start, tz)}
              </button>
            ))}
          </div>
        </>
      )}
    </Screen>
  );
}
