// Moving a confirmed booking (once, free, 24 h or more ahead) to a free time of the same vet.
import { useEffect, useState } from "react";
import { t } from "../i18n.js";
import { post } from "../api.js";
import { useApi } from "../data.js";
import { goBack, navigate } from "../router.js";
import { formatDateTime, formatTime } from "../format.js";
import { haptic, useBackButton, useMainButton } from "../tg.js";
import SlotPicker, { firstFreeDay } from "../components/SlotPicker.jsx";
import { ErrorNote, Loading, Screen } from "../components/ui.jsx";
import { DAYS } from "./Calendar.jsx";
import { useMe } from "../me.js";

export default function Reschedule({ bookingId }) {
  const me = useMe();
  const base = `/api/bookings/${encodeURIComponent(bookingId)}`;
  const current = useApi(base);
  const options = useApi(`${base}/reschedule`);
  const [day, setDay] = useState(null);
  const [slot, setSlot] = useState(null);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState(null);
  const [moved, setMoved] = useState(null);
  useEffect(() => {
    if (options.data && !day) setDay(firstFreeDay(options.data.days));
  }, [options.data, day]);

  async function move() {
    if (busy || !slot) return;
    setBusy(true);
    setFailure(null);
    try {
      const answer = await post(`${base}/reschedule`, { start: slot });
      haptic.success();
      setMoved(answer.booking);
    } catch (err) {
      haptic.error();
      setFailure(err);
      if (err.status === 409) { setSlot(null); options.reload(); }
    } finally {
      setBusy(false);
    }
  }

  useBackButton(() => goBack("/bookings"));
  useMainButton(moved ? t("webapp.bookings.title") : slot ? t("webapp.bookings.reschedule_to", { time: formatTime(slot, me.timezone) }) : null,
    moved ? () => navigate("/bookings", { replace: true }) : move, { progress: busy });
  const error = current.error || options.error;
  if (error) return <Screen title={t("webapp.bookings.reschedule_title")}><ErrorNote error={error} /></Screen>;
  if (!current.data || !options.data) return <Screen title={t("webapp.bookings.reschedule_title")}><Loading /></Screen>;
  const booking = current.data.booking;
  return (
    <Screen title={t("webapp.bookings.reschedule_title")}
            subtitle={`${formatDateTime(booking.start, me.timezone)} · ${booking.pet.name} · ${booking.vet.name}`}>
      {moved ? (
        <p className="success" role="status" data-testid="rescheduled">
          {t("webapp.bookings.rescheduled", { when: formatDateTime(moved.start, me.timezone) })}
        </p>
      ) : (
        <>
          <p className="hint small">{t("webapp.bookings.reschedule_hint")}</p>
          <SlotPicker days={options.data.days} tz={me.timezone} count={DAYS} day={day} slot={slot}
                      onDay={(date) => { setDay(date); setSlot(null); }} onSlot={setSlot} />
        </>
      )}
      <ErrorNote error={failure} />
    </Screen>
  );
}
