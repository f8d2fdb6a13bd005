// Today's activity, mood and appetite (1-5) and a note, as the bot's /activity records them.
import { useState } from "react";
import { t } from "../../i18n.js";
import { post } from "../../api.js";
import { goBack } from "../../router.js";
import { useBackButton, useMainButton } from "../../tg.js";
import { ErrorNote, Screen } from "../../components/ui.jsx";
import { Choice, Text, useFieldErrors, useSubmit } from "../../components/fields.jsx";

const SCALE = [1, 2, 3, 4, 5];

export default function Activity({ petId }) {
  const [form, setForm] = useState({ minutes: "", mood: null, appetite: null, notes: "" });
  const [done, setDone] = useState(false);
  const { errors, refs, refuse, clear } = useFieldErrors();
  const { busy, failure, submit } = useSubmit(refuse);
  const set = (key) => (value) => { setForm((f) => ({ ...f, [key]: value })); clear(key); setDone(false); };

  async function save() {
    const body = { mood: form.mood, appetite: form.appetite, notes: form.notes.trim() || null, minutes: null };
    if (form.minutes.trim()) {
      if (!/^\d+$/.test(form.minutes.trim())) { refuse("minutes", t("webapp.vet.whole_number")); return; }
      body.minutes = Number(form.minutes.trim());
    }
    if (await submit(() => post(`/api/pets/${encodeURIComponent(petId)}/activity`, body))) setDone(true);
  }

  useBackButton(() => goBack(`/pets/${encodeURIComponent(petId)}`));
  useMainButton(t("webapp.save"), save, { progress: busy });
  return (
    <Screen title={t("diary.btn.activity")}>
      <form className="form" noValidate onSubmit={(e) => { e.preventDefault(); save(); }}>
        <Text name="minutes" label={t("webapp.activity.minutes")} value={form.minutes} inputMode="numeric" refs={refs}
              onChange={set("minutes")} error={errors.minutes} />
        <p className="hint small">{t("webapp.activity.scale")}</p>
        <Choice name="mood" legend={t("webapp.activity.mood")} options={SCALE} value={form.mood} onChange={set("mood")}
                labelOf={String} error={errors.mood} />
        <Choice name="appetite" legend={t("webapp.activity.appetite")} options={SCALE} value={form.appetite}
                onChange={set("appetite")} labelOf={String} error={errors.appetite} />
        <Text name="notes" multiline label={t("webapp.activity.notes")} value={form.notes} maxLength={500}
              hint={t("webapp.form.optional")} refs={refs} onChange={set("notes")} error={errors.notes} />
      </form>
      {done && <p className="success" role="status" data-testid="activity-saved">{t("webapp.activity.saved")}</p>}
      <ErrorNote error={failure} />
    </Screen>
  );
}
