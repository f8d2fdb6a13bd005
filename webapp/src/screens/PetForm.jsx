// Add or edit a pet. The server validates with the bot's rules; its 400 names the field, shown under it.
import { useEffect, useRef, useState } from "react";
import { t } from "../i18n.js";
import { patch, post } from "../api.js";
import { useApi } from "../data.js";
import { goBack, navigate } from "../router.js";
import { formatKg } from "../format.js";
import { haptic, useBackButton, useMainButton } from "../tg.js";
import { ErrorNote, Loading, Screen, errorText } from "../components/ui.jsx";
import { Choice, Text } from "../components/fields.jsx";

const SPECIES = ["cat", "dog", "bird", "rodent", "reptile", "other"];
const SEXES = ["male", "female", "unknown"];
const NEUTERED = ["yes", "no", "unknown"];
const EMPTY = { species: "", name: "", breed: "", sex: "unknown", age: "", weight_kg: "", neutered: "unknown" };
// The server's field names for a 400, as the form names them.
const FIELD_OF = { birth_date: "age", weight: "weight_kg" };

function toForm(pet) {
  if (!pet) return EMPTY;
  const [y, m, d] = (pet.birth_date || "").split("-");
  return {
    species: pet.species, name: pet.name, breed: pet.breed || "", sex: pet.sex,
    age: pet.birth_date ? `${d}.${m}.${y}` : "", weight_kg: pet.weight_kg != null ? formatKg(pet.weight_kg) : "",
    neutered: pet.neutered,
  };
}

export default function PetForm({ petId }) {
  const editing = Boolean(petId);
  const loaded = useApi(editing ? `/api/pets/${encodeURIComponent(petId)}` : null);
  const [form, setForm] = useState(EMPTY);
  const [original, setOriginal] = useState(EMPTY);
  const [errors, setErrors] = useState({});
  const [failure, setFailure] = useState(null);
  const [busy, setBusy] = useState(false);
  const refs = useRef({});
  useEffect(() => {
    if (loaded.data) {
      const f = toForm(loaded.data.pet);
      setForm(f);
      setOriginal(f);
    }
  }, [loaded.data]);
  const set = (key) => (value) => {
    setForm((f) => ({ ...f, [key]: value }));
    setErrors((e) => ({ ...e, [key]: null }));
  };

  async function save() {
    if (busy) return;
    const missing = {};
    if (!form.species) missing.species = t("webapp.form.choose_species");
    if (!form.name.trim()) missing.name = t("err.name_empty");
    if (Object.keys(missing).length) {
      setErrors(missing);
      haptic.error();
      return;
    }
    const body = {};
    for (const key of Object.keys(EMPTY)) {
      if (editing && form[key] === original[key]) continue;
      const value = typeof form[key] === "string" ? form[key].trim() : form[key];
      const name = key === "age" ? "birth_date" : key;   // the bot's birth-date answer: a date or an age
      if (key === "breed" || key === "age" || key === "weight_kg") {
        if (value === "" && !editing) continue;
        body[name] = value === "" ? null : value;
      } else body[name] = value;
    }
    if (typeof body.weight_kg === "string") {
      const kg = Number(body.weight_kg.replace(",", "."));
      if (!Number.isFinite(kg)) {
        setErrors({ weight_kg: t("err.weight_not_number") });
        haptic.error();
        if (refs.current.weight_kg) refs.current.weight_kg.focus();
        return;
      }
      body.weight_kg = kg;
    }
    if (editing && !Object.keys(body).length) {
      goBack(`/pets/${encodeURIComponent(petId)}`);
      return;
    }
    setBusy(true);
    setFailure(null);
    try {
      const answer = editing
        ? await patch(`/api/pets/${encodeURIComponent(petId)}`, body)
        : await post("/api/pets", body);
      haptic.success();
      navigate(`/pets/${encodeURIComponent(answer.pet.id)}`, { replace: true });
    } catch (err) {
      haptic.error();
      if (err.status === 400 && err.field) {
        const field = FIELD_OF[err.field] || err.field;
        setErrors({ [field]: errorText(err) });
        const el = refs.current[field];
        if (el) el.focus();
      } else setFailure(err);
    } finally {
      setBusy(false);
    }
  }

  useBackButton(() => goBack(editing ? `/pets/${encodeURIComponent(petId)}` : "/"));
  useMainButton(t("webapp.save"), save, { progress: busy });
  if (editing && loaded.loading && !loaded.data) return <Screen><Loading /></Screen>;
  if (editing && loaded.error) return <Screen><ErrorNote error={loaded.error} /></Screen>;
  const name = form.name.trim() || t("webapp.form.your_pet");
  return (
    <Screen title={editing ? t("webapp.form.edit_title") : t("webapp.form.add_title")}>
      <form className="form" noValidate onSubmit={(e) => { e.preventDefault(); save(); }}>
        <Choice name="species" legend={t("ask.species")} options={SPECIES} value={form.species}
                onChange={set("species")} labelOf={(s) => t(`species.${s}`)} error={errors.species} />
        <Text name="name" label={t("field.name")} value={form.name} onChange={set("name")} error={errors.name}
              maxLength={80} refs={refs} />
        <Text name="breed" label={t("field.breed")} value={form.breed} onChange={set("breed")} error={errors.breed}
              hint={t("webapp.form.optional")} refs={refs} />
        <Choice name="sex" legend={t("field.sex")} options={SEXES} value={form.sex} onChange={set("sex")}
                labelOf={(s) => t(`sex.${s}`)} error={errors.sex} />
        <Text name="age" label={t("webapp.form.age")} value={form.age} onChange={set("age")} error={errors.age}
              hint={t("ask.birth_date", { name })} refs={refs} />
        <Text name="weight_kg" label={t("webapp.form.weight")} value={form.weight_kg} onChange={set("weight_kg")}
              error={errors.weight_kg} hint={t("ask.weight_kg", { name })} inputMode="decimal" refs={refs} />
        <Choice name="neutered" legend={t("field.neutered")} options={NEUTERED} value={form.neutered}
                onChange={set("neutered")} labelOf={(s) => t(`neutered.${s}`)} error={errors.neutered} />
      </form>
      <ErrorNote error={failure} />
    </Screen>
  );
}
