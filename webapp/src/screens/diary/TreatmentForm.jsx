// A vaccination or treatment as the bot's /vaccines logs it; the next date left empty is the species' usual
// interval (the server proposes it), and its reminders are planned.
import { useState } from "react";
import { t } from "../../i18n.js";
import { post } from "../../api.js";
import { goBack } from "../../router.js";
import { formatDate, todayIn } from "../../format.js";
import { useBackButton, useMainButton } from "../../tg.js";
import { ErrorNote, Screen } from "../../components/ui.jsx";
import { Choice, Text, useFieldErrors, useSubmit } from "../../components/fields.jsx";
import { useMe } from "../../me.js";

const KINDS = ["vaccine", "deworming", "flea_tick"];

export default function TreatmentForm({ petId }) {
  const me = useMe();
  const [form, setForm] = useState({ kind: "vaccine", product: "", given_on: todayIn(me.timezone), next_due: "" });
  const [saved, setSaved] = useState(null);
  const { errors, refs, refuse, clear } = useFieldErrors();
  const { busy, failure, submit } = useSubmit(refuse);
  const set = (key) => (value) => { setForm((f) => ({ ...f, [key]: value })); clear(key); setSaved(null); };

  async function save() {
    const body = { kind: form.kind, product: form.product.trim(), given_on: form.given_on };
    if (form.next_due) body.next_due = form.next_due;
    const answer = await submit(() => post(`/api/pets/${encodeURIComponent(petId)}/treatments`, body));
    if (answer) {
      setSaved(answer.treatment);
      setForm((f) => ({ ...f, product: "", next_due: "" }));
    }
  }

  useBackButton(() => goBack(`/pets/${encodeURIComponent(petId)}`));
  useMainButton(t("webapp.save"), save, { progress: busy });
  return (
    <Screen title={t("diary.btn.add_treatment")}>
      <form className="form" noValidate onSubmit={(e) => { e.preventDefault(); save(); }}>
        <Choice name="kind" legend={t("webapp.treatments.kind")} options={KINDS} value={form.kind} onChange={set("kind")}
                labelOf={(k) => t(`diary.kind.${k}`)} error={errors.kind} />
        <Text name="product" label={t("webapp.treatments.product")} value={form.product} maxLength={80} refs={refs}
              onChange={set("product")} error={errors.product} />
        <Text name="given_on" type="date" label={t("webapp.treatments.given_on")} value={form.given_on} refs={refs}
              onChange={set("given_on")} error={errors.given_on} />
        <Text name="next_due" type="date" label={t("webapp.treatments.next_due")} value={form.next_due} refs={refs}
              hint={t("webapp.treatments.next_hint")} onChange={set("next_due")} error={errors.next_due} />
      </form>
      {saved && (
        <p className="success" role="status" data-testid="treatment-saved">
          {saved.next_due ? t("webapp.treatments.saved", { product: saved.product, date: formatDate(saved.next_due) })
            : t("webapp.treatments.saved_no_due", { product: saved.product })}
        </p>
      )}
      <ErrorNote error={failure} />
    </Screen>
  );
}
