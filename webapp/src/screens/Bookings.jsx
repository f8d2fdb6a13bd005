// The owner's upcoming consultations; cancelling first shows what comes back under the policy.
import { useState } from "react";
import { t } from "../i18n.js";
import { get, post } from "../api.js";
import { useApi } from "../data.js";
import { goBack, navigate } from "../router.js";
import { formatDateTime, formatMoney } from "../format.js";
import { haptic, useBackButton, useMainButton } from "../tg.js";
import { ErrorNote, Loading, Screen, Section } from "../components/ui.jsx";
import { useMe } from "../me.js";

function BookingItem({ booking, tz, onChanged }) {
  const [preview, setPreview] = useState(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const path = `/api/bookings/${encodeURIComponent(booking.id)}/cancel`;
  async function ask() {
    setBusy(true);
    setError(null);
    try {
      setPreview(await get(path));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  async function cancel() {
    setBusy(true);
    setError(null);
    try {
      const answer = await post(path, {});
      haptic.success();
      onChanged(booking.id, answer.refund);
    } catch (err) {
      haptic.error();
      setError(err);
      setBusy(false);
    }
  }
  const inRoom = booking.status === "confirmed" && Date.parse(booking.start) - Date.now() < 10 * 60000
    && Date.parse(booking.end) > Date.now();
  return (
    <li className="card" data-booking={booking.id}>
      <div className="card-head">
        <span className="avatar" aria-hidden="true">{t(`species_icon.${booking.pet.species}`)}</span>
        <span className="row-main">
          <span className="row-title">{formatDateTime(booking.start, tz)}</span>
          <span className="row-sub">{t("webapp.bookings.line", { pet: booking.pet.name, vet: booking.vet.name })}</span>
          <span className="row-sub">{formatMoney(booking.price)} · {t(`webapp.status.${booking.status}`)}</span>
        </span>
      </div>
      {inRoom && (
        <button type="button" className="btn" onClick={() => navigate(`/room/${encodeURIComponent(booking.id)}`)}>
          {t("webapp.room.join")}
        </button>
      )}
      {!preview && (booking.can_reschedule || booking.can_cancel || booking.role === "vet") && (
        <div className="actions actions-flush">
          {booking.role === "vet" && (
            <button type="button" className="btn btn-secondary"
                    onClick={() => navigate(`/vet/bookings/${encodeURIComponent(booking.id)}`)}>
              {t("webapp.vet.open_card")}
            </button>
          )}
          {booking.can_reschedule && (
            <button type="button" className="btn btn-secondary"
                    onClick={() => navigate(`/bookings/${encodeURIComponent(booking.id)}/reschedule`)}>
              {t("webapp.bookings.reschedule")}
            </button>
          )}
          {booking.can_cancel && (
            <button type="button" className="btn btn-danger-text" disabled={busy} onClick={ask}>{t("webapp.bookings.cancel")}</button>
          )}
        </div>
      )}
      {preview && (
        <div className="confirm" role="group" aria-label={t("webapp.bookings.cancel")}>
          <p data-testid="refund-terms">
            {preview.refund && preview.refund.amount > 0
              ? t("webapp.bookings.refund", { amount: formatMoney(preview.refund) })
              : t("webapp.bookings.no_refund")}
          </p>
          <div className="actions">
            <button type="button" className="btn btn-danger" disabled={busy} onClick={cancel}>{t("webapp.bookings.cancel_confirm")}</button>
            <button type="button" className="btn btn-secondary" disabled={busy} onClick={() => setPreview(null)}>{t("webapp.bookings.keep")}</button>
          </div>
        </div>
      )}
      <ErrorNote error={error} />
    </li>
  );
}

export default function Bookings() {
  const me = useMe();
  const { data, error, loading, reload } = useApi("/api/bookings");
  const [done, setDone] = useState(null);
  useBackButton(() => goBack("/"));
  useMainButton(null);
  const mine = data ? data.as_owner || [] : [];
  const asVet = data ? data.as_vet || [] : [];
  function changed(id, refund) {
    setDone(refund);
    reload();
  }
  return (
    <Screen title={t("webapp.bookings.title")}>
      {loading && !data && <Loading />}
      <ErrorNote error={error} onRetry={reload} />
      {done && (
        <p className="success" role="status" data-testid="cancelled">
          {done.amount > 0 ? t("webapp.bookings.cancelled_refund", { amount: formatMoney(done) }) : t("webapp.bookings.cancelled")}
        </p>
      )}
      {data && !mine.length && !asVet.length && <p className="empty">{t("webapp.bookings.empty")}</p>}
      {mine.length > 0 && (
        <ul className="cards">
          {mine.map((b) => <BookingItem key={b.id} booking={b} tz={me.timezone} onChanged={changed} />)}
        </ul>
      )}
      {asVet.length > 0 && (
        <Section id="as-vet" title={t("webapp.bookings.as_vet")}>
          <ul className="cards">
            {asVet.map((b) => <BookingItem key={b.id} booking={b} tz={me.timezone} onChanged={changed} />)}
          </ul>
        </Section>
      )}
    </Screen>
  );
}
