// The booking's summary, then hold -> invoice -> Telegram's payment form inside the Mini App.
import { useEffect, useState } from "react";
import { t } from "../i18n.js";
import { post } from "../api.js";
import { useApi } from "../data.js";
import { goBack, navigate } from "../router.js";
import { formatDateTime, formatMoney, formatTime } from "../format.js";
import { haptic, openInvoice, useBackButton, useMainButton } from "../tg.js";
import { ErrorNote, Loading, Screen, Section, errorText } from "../components/ui.jsx";
import { rememberedVet } from "../selection.js";
import { DAYS } from "./Calendar.jsx";
import { useMe } from "../me.js";

export default function Checkout({ petId, vetId, start }) {
  const known = rememberedVet(vetId);
  const pet = useApi(`/api/pets/${encodeURIComponent(petId)}`);
  const calendar = useApi(known ? null
    : `/api/vets/${encodeURIComponent(vetId)}/calendar?pet=${encodeURIComponent(petId)}&days=${DAYS}`);
  const vet = known || (calendar.data && calendar.data.vet);
  const me = useMe();
  const tz = (calendar.data && calendar.data.timezone) || me.timezone;
  const [reason, setReason] = useState("");
  const [booking, setBooking] = useState(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null);
  const [fieldError, setFieldError] = useState(null);
  const [outcome, setOutcome] = useState(null);   // "cancelled" | "failed" | "taken"
  const [, tick] = useState(0);
  useEffect(() => {
    if (!booking || !booking.hold_expires_at) return undefined;
    const timer = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(timer);
  }, [booking]);

  async function pay() {
    if (busy) return;
    setBusy(true);
    setProblem(null);
    setOutcome(null);
    try {
      let held = booking;
      if (!held || Date.parse(held.hold_expires_at) <= Date.now()) {
        held = (await post("/api/bookings", { pet: petId, vet: vet.id, start, reason: reason.trim() })).booking;
        setBooking(held);
      }
      const { invoice_link: link } = await post(`/api/bookings/${encodeURIComponent(held.id)}/invoice`);
      const status = await openInvoice(link);
      if (status === "paid") {
        haptic.success();
        navigate(`/bookings/${encodeURIComponent(held.id)}`, { replace: true });
        return;
      }
      if (status === "failed") haptic.error();
      else haptic.warning();
      setOutcome(status === "failed" ? "failed" : "cancelled");
    } catch (err) {
      haptic.error();
      if (err.status === 409 && err.code !== "superseded") setOutcome("taken");
      else if (err.status === 400 && err.field === "reason") setFieldError(errorText(err));
      else setProblem(err);
    } finally {
      setBusy(false);
    }
  }

  const taken = outcome === "taken";
  useBackButton(() => goBack(`/pets/${encodeURIComponent(petId)}/vets/${encodeURIComponent(vetId)}`));
  useMainButton(vet ? (taken ? t("webapp.checkout.other_time") : t("webapp.checkout.pay", { price: formatMoney(vet.price) })) : null,
    taken ? () => goBack(`/pets/${encodeURIComponent(petId)}/vets/${encodeURIComponent(vetId)}`) : pay, { progress: busy });
  if ((pet.loading && !pet.data) || (!vet && calendar.loading)) return <Screen><Loading /></Screen>;
  const error = pet.error || calendar.error;
  if (error) return <Screen><ErrorNote error={error} /></Screen>;
  const left = booking && booking.hold_expires_at ? Math.max(0, Date.parse(booking.hold_expires_at) - Date.now()) : null;
  const mmss = left != null ? `${Math.floor(left / 60000)}:${String(Math.floor(left / 1000) % 60).padStart(2, "0")}` : "";
  return (
    <Screen title={t("webapp.checkout.title")}>
      <Section id="summary">
        <dl className="details">
          <div className="details-row"><dt>{t("webapp.checkout.pet")}</dt><dd>{pet.data.pet.name}</dd></div>
          <div className="details-row"><dt>{t("webapp.checkout.vet")}</dt><dd>{vet.name}</dd></div>
          <div className="details-row"><dt>{t("webapp.checkout.when")}</dt><dd data-testid="checkout-when">{formatDateTime(start, tz)}</dd></div>
          <div className="details-row"><dt>{t("webapp.checkout.duration")}</dt>
            <dd>{t("webapp.checkout.minutes", { n: vet.slot_minutes || 30 })}</dd></div>
          <div className="details-row"><dt>{t("webapp.checkout.price")}</dt><dd>{formatMoney(vet.price)}</dd></div>
        </dl>
      </Section>
      <div className="field">
        <label className="label" htmlFor="reason">{t("webapp.checkout.reason")}</label>
        <textarea id="reason" className="input textarea" rows={3} maxLength={500} value={reason} disabled={Boolean(booking)}
                  aria-invalid={Boolean(fieldError)} aria-describedby={fieldError ? "reason-error" : "reason-hint"}
                  onChange={(e) => { setReason(e.target.value); setFieldError(null); }} />
        <p id="reason-hint" className="hint small">{t("webapp.checkout.reason_hint")}</p>
        {fieldError && <p id="reason-error" className="field-error" role="alert">{fieldError}</p>}
      </div>
      <p className="hint small">{t("webapp.checkout.policy")}</p>
      {booking && left > 0 && (
        <p className="note" role="status" data-testid="hold">{t("webapp.checkout.held", { left: mmss, time: formatTime(booking.hold_expires_at, tz) })}</p>
      )}
      {outcome === "cancelled" && <p className="note" role="alert">{t("webapp.checkout.not_paid")}</p>}
      {outcome === "failed" && <p className="note note-error" role="alert">{t("webapp.checkout.failed")}</p>}
      {taken && <p className="note note-error" role="alert">{t("webapp.checkout.taken")}</p>}
      <ErrorNote error={problem} />
    </Screen>
  );
}
