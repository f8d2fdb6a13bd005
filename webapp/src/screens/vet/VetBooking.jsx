// One consultation as its vet sees it: the pet as booked, the reason, the photo check, the diary's week,
// the treatments; the room from 10 minutes before; then the conclusion form (summary, recommendations,
// follow-up date, and the AI's answer when the booking came from a photo check), or the conclusion written.
import { useState } from "react";
import { t } from "../../i18n.js";
import { post } from "../../api.js";
import { useApi } from "../../data.js";
import { goBack, navigate } from "../../router.js";
import { formatDate, formatDateTime } from "../../format.js";
import { haptic, openLink, useBackButton, useMainButton } from "../../tg.js";
import { ErrorNote, Loading, Screen, Section } from "../../components/ui.jsx";
import { Text, useFieldErrors, useSubmit } from "../../components/fields.jsx";
import WeekSummary from "../../components/WeekSummary.jsx";
import { Details, TreatmentList } from "../PetCard.jsx";
import { useMe } from "../../me.js";

const ROOM_BEFORE_MS = 10 * 60000;

// The findings named as the label question names its classes (the AI's raw label otherwise).
function triageText(triage, question) {
  const names = new Map(((question && question.classes) || []).map((c) => [c.id, c.name]));
  const findings = (triage.findings || []).map((f) => `${names.get(f.label) || f.label} ${Math.round(f.p * 100)}%`)
    .join(", ") || "—";
  return t("booking.vet_triage", { urgency: t(`triage.urgency.${triage.urgency || "none"}`), findings });
}

function LabelQuestion({ question, value, onChange, error, refs }) {
  const options = [
    ...(question.ai_label ? [["right", t("conclusion.btn.right")]] : []),
    ...question.classes.filter((c) => c.id !== question.ai_label).map((c) => [c.id, c.name]),
    ["cannot_tell", t("conclusion.btn.cannot_tell")],
  ];
  return (
    <fieldset className="field" aria-invalid={Boolean(error)} aria-describedby={error ? "answer-error" : undefined}>
      <legend className="label">
        {question.ai_label ? t("conclusion.ask.ai_right", { label: question.ai_label_name }) : t("conclusion.ask.class_no_ai")}
      </legend>
      {question.ai_label && <p className="hint small">{t("conclusion.ask.which_class")}</p>}
      <div className="chips" role="radiogroup" aria-label={t("webapp.vet.ai_label")}>
        {options.map(([id, label], i) => (
          <label key={id} className={value === id ? "chip chip-on" : "chip"}>
            <input type="radio" name="answer" value={id} checked={value === id}
                   ref={(el) => { if (i === 0) refs.current.answer = el; }}
                   onChange={() => { haptic.select(); onChange(id); }} />
            <span>{label}</span>
          </label>
        ))}
      </div>
      {error && <p id="answer-error" className="field-error" role="alert">{error}</p>}
    </fieldset>
  );
}

function Written({ conclusion }) {
  const rows = [["webapp.vet.summary", conclusion.summary], ["webapp.vet.recommendations", conclusion.recommendations],
    ["webapp.vet.follow_up", conclusion.follow_up && formatDate(conclusion.follow_up)]].filter(([, v]) => v);
  return (
    <div data-testid="conclusion">
      {rows.map(([key, value]) => (
        <div className="block" key={key}>
          <span className="row-sub">{t(key)}</span>
          <p className="plain-text">{value}</p>
        </div>
      ))}
    </div>
  );
}

export default function VetBooking({ bookingId }) {
  const me = useMe();
  const path = `/api/vet/bookings/${encodeURIComponent(bookingId)}`;
  const { data, error, loading, reload } = useApi(path);
  const [form, setForm] = useState({ summary: "", recommendations: "", follow_up: "", answer: null });
  const { errors, refs, refuse, clear } = useFieldErrors();
  const [sent, setSent] = useState(null);
  const { busy, failure, submit } = useSubmit(refuse);
  const set = (key) => (value) => {
    setForm((f) => ({ ...f, [key]: value }));
    clear(key);
  };
  const question = data && data.label_question;
  const canWrite = Boolean(data && data.can_conclude && !sent);

  async function send() {
    if (!form.summary.trim()) { refuse("summary", t("conclusion.err.summary_empty")); return; }
    if (question && !form.answer) { refuse("answer", t("webapp.vet.choose_answer")); return; }
    const body = { summary: form.summary.trim(), recommendations: form.recommendations.trim(),
      follow_up: form.follow_up || null };
    if (question) body.answer = form.answer;
    const answer = await submit(() => post(`${path}/conclusion`, body));
    if (answer) {
      setSent(answer);
      reload();
    }
  }

  useBackButton(() => goBack("/vet"));
  useMainButton(canWrite ? t("webapp.vet.send") : null, send, { progress: busy });
  if (loading && !data) return <Screen><Loading /></Screen>;
  if (error) return <Screen><ErrorNote error={error} onRetry={reload} /></Screen>;
  const { booking, pet } = data;
  const now = Date.now();
  const inRoom = booking.status === "confirmed" && Date.parse(booking.start) - now < ROOM_BEFORE_MS && Date.parse(booking.end) > now;
  const conclusion = (sent && sent.conclusion) || data.conclusion;
  return (
    <Screen title={`${t(`species_icon.${pet.species}`)} ${pet.name}`} subtitle={formatDateTime(booking.start, me.timezone)}>
      {inRoom && (
        <button type="button" className="btn btn-wide" onClick={() => navigate(`/room/${encodeURIComponent(booking.id)}`)}>
          {t("webapp.vet.join")}
        </button>
      )}
      <Section id="patient">
        <Details pet={pet} />
        <p className="block" data-testid="reason">{t("booking.vet_reason", { reason: booking.reason || "—" })}</p>
      </Section>
      {data.triage && (
        <Section id="triage" title={t("webapp.vet.triage")}>
          <p className="block" data-testid="triage">{triageText(data.triage, data.label_question)}</p>
          {data.photo_url && (
            <div className="actions">
              <button type="button" className="btn btn-secondary" onClick={() => openLink(data.photo_url)}>{t("webapp.vet.photo")}</button>
            </div>
          )}
        </Section>
      )}
      <Section id="diary" title={t("webapp.vet.diary")}>
        {data.week ? <WeekSummary week={data.week} weights={data.weights} /> : <p className="block">{t("webapp.vet.no_diary")}</p>}
      </Section>
      {data.treatments && data.treatments.length > 0 && (
        <Section id="treatments" title={t("webapp.treatments.title")}><TreatmentList treatments={data.treatments} /></Section>
      )}
      <Section id="conclusion" title={t("webapp.vet.conclusion")}>
        {conclusion && <Written conclusion={conclusion} />}
        {!conclusion && !data.can_conclude && <p className="block">{t("webapp.vet.not_yet")}</p>}
        {canWrite && !conclusion && (
          <form className="form-rows" noValidate onSubmit={(e) => { e.preventDefault(); send(); }}>
            <Text name="summary" multiline label={t("webapp.vet.summary")} value={form.summary} maxLength={2000}
                  onChange={set("summary")} error={errors.summary} refs={refs} />
            <Text name="recommendations" multiline label={t("webapp.vet.recommendations")} value={form.recommendations}
                  hint={t("webapp.form.optional")} maxLength={2000} onChange={set("recommendations")}
                  error={errors.recommendations} refs={refs} />
            <Text name="follow_up" type="date" label={t("webapp.vet.follow_up")} value={form.follow_up}
                  hint={t("webapp.form.optional")} onChange={set("follow_up")} error={errors.follow_up} refs={refs} />
            {question && <LabelQuestion question={question} value={form.answer} onChange={set("answer")} error={errors.answer}
                                         refs={refs} />}
          </form>
        )}
      </Section>
      {sent && (
        <p className="success" role="status" data-testid="conclusion-sent">
          {t(sent.delivered ? "webapp.vet.sent" : "webapp.vet.sent_undelivered")}
        </p>
      )}
      <ErrorNote error={failure} />
    </Screen>
  );
}
