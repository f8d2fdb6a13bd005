// After Telegram says "paid": the payment reaches the bot's webhook, which confirms the booking; poll it.
import { useEffect, useState } from "react";
import { t } from "../i18n.js";
import { get } from "../api.js";
import { navigate } from "../router.js";
import { formatDateTime, formatMoney } from "../format.js";
import { useBackButton, useMainButton } from "../tg.js";
import { ErrorNote, Loading, Screen, Section } from "../components/ui.jsx";
import { useMe } from "../me.js";

const POLL_MS = 1000;
const POLL_FOR_MS = 60000;

export default function BookingDone({ bookingId }) {
  const me = useMe();
  const [booking, setBooking] = useState(null);
  const [error, setError] = useState(null);
  const [gaveUp, setGaveUp] = useState(false);
  useEffect(() => {
    let live = true;
    let timer = null;
    const until = Date.now() + POLL_FOR_MS;
    const poll = async () => {
      try {
        const { booking: b } = await get(`/api/bookings/${encodeURIComponent(bookingId)}`);
        if (!live) return;
        setBooking(b);
        if (b.status !== "held") return;
      } catch (err) {
        if (!live) return;
        setError(err);
        if (err.status && err.status < 500) return;
      }
      if (Date.now() < until) timer = setTimeout(poll, POLL_MS);
      else setGaveUp(true);
    };
    poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [bookingId]);
  useBackButton(() => navigate("/", { replace: true }));
  useMainButton(t("webapp.bookings.title"), () => navigate("/bookings", { replace: true }));
  const confirmed = booking && booking.status === "confirmed";
  return (
    <Screen title={confirmed ? t("webapp.done.confirmed") : t("webapp.done.waiting")}>
      {!booking && !error && <Loading />}
      {booking && booking.status === "held" && !gaveUp && <p className="hint" role="status">{t("webapp.done.checking")}</p>}
      {gaveUp && <p className="note" role="alert">{t("webapp.done.slow")}</p>}
      {booking && booking.status !== "held" && !confirmed && (
        <p className="note note-error" role="alert">{t(`webapp.status.${booking.status}`)}</p>
      )}
      {confirmed && <p className="success" role="status" data-testid="confirmed">✅ {t("webapp.done.text")}</p>}
      {booking && (
        <Section id="booking">
          <dl className="details">
            <div className="details-row"><dt>{t("webapp.checkout.pet")}</dt><dd>{booking.pet.name}</dd></div>
            <div className="details-row"><dt>{t("webapp.checkout.vet")}</dt><dd>{booking.vet.name}</dd></div>
            <div className="details-row"><dt>{t("webapp.checkout.when")}</dt><dd>{formatDateTime(booking.start, me.timezone)}</dd></div>
            <div className="details-row"><dt>{t("webapp.checkout.price")}</dt><dd>{formatMoney(booking.price)}</dd></div>
          </dl>
        </Section>
      )}
      <ErrorNote error={error} />
    </Screen>
  );
}
