// 14 days of a vet's free times in the owner's zone: pick a day, then a time; the main button goes on.
import { useEffect, useState } from "react";
import { t } from "../i18n.js";
import { useApi } from "../data.js";
import { goBack, navigate } from "../router.js";
import { formatMoney, formatTime } from "../format.js";
import { useBackButton, useMainButton } from "../tg.js";
import SlotPicker, { firstFreeDay } from "../components/SlotPicker.jsx";
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
  useEffect(() => {
    if (data && !day) setDay(firstFreeDay(data.days));
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
  return (
    <Screen title={t("webapp.calendar.title")}
            subtitle={vet ? `${vet.name} · ${formatMoney(vet.price)}` : null}>
      <p className="hint small">{t("webapp.calendar.zone", { zone: tz })}</p>
      <SlotPicker days={data.days} tz={tz} count={DAYS} day={day} slot={slot}
                  onDay={(date) => { setDay(date); setSlot(null); }} onSlot={setSlot} />
    </Screen>
  );
}
