// Today's meals against the daily energy need (the bot's /food): a food of the species' list and grams.
import { useEffect, useState } from "react";
import { t } from "../../i18n.js";
import { post } from "../../api.js";
import { useApi } from "../../data.js";
import { goBack } from "../../router.js";
import { useBackButton, useMainButton } from "../../tg.js";
import { ErrorNote, Loading, Screen, Section } from "../../components/ui.jsx";
import { Text, useFieldErrors, useSubmit } from "../../components/fields.jsx";

export default function Food({ petId }) {
  const base = `/api/pets/${encodeURIComponent(petId)}/meals`;
  const { data, error, loading, reload } = useApi(base);
  const [food, setFood] = useState("");
  const [grams, setGrams] = useState("");
  const { errors, refs, refuse, clear } = useFieldErrors();
  const { busy, failure, submit } = useSubmit(refuse, (field) => (field === "food_id" ? "food" : field));
  useEffect(() => {
    if (data && !food && data.foods.length) setFood(data.foods[0].id);
  }, [data, food]);

  async function add() {
    const amount = Number(grams.replace(",", ".").trim());
    if (!grams.trim() || !Number.isFinite(amount)) { refuse("grams", t("webapp.vet.whole_number")); return; }
    if (await submit(() => post(base, { food_id: food, grams: amount }))) {
      setGrams("");
      reload();
    }
  }

  useBackButton(() => goBack(`/pets/${encodeURIComponent(petId)}`));
  useMainButton(data ? t("webapp.food.add") : null, add, { progress: busy });
  if (loading && !data) return <Screen title={t("webapp.food.title")}><Loading /></Screen>;
  if (error) return <Screen title={t("webapp.food.title")}><ErrorNote error={error} onRetry={reload} /></Screen>;
  const need = data.requirement_kcal;
  const share = need ? Math.min(100, Math.round((data.total_kcal / need) * 100)) : null;
  return (
    <Screen title={t("webapp.food.title")}>
      <Section id="today">
        <div className="block">
          <p className="row-title" data-testid="food-total">
            {t("webapp.food.total", { kcal: Math.round(data.total_kcal) })}
            {need ? ` / ${t("webapp.week.requirement", { kcal: need })}` : ""}
          </p>
          {share != null && (
            <div className="meter" role="meter" aria-valuemin={0} aria-valuemax={100} aria-valuenow={share}
                 aria-label={t("webapp.food.title")}><span style={{ width: `${share}%` }} /></div>
          )}
        </div>
        {data.meals.length ? (
          <ul className="list">
            {data.meals.map((m) => (
              <li key={m.id} className="row">{t("webapp.food.meal", { food: m.name, grams: m.grams, kcal: Math.round(m.kcal) })}</li>
            ))}
          </ul>
        ) : <p className="block hint">{t("webapp.food.none")}</p>}
      </Section>
      <form className="form" noValidate onSubmit={(e) => { e.preventDefault(); add(); }}>
        <div className="field">
          <label className="label" htmlFor="f-food">{t("webapp.food.food")}</label>
          <select id="f-food" className="input" value={food} aria-invalid={Boolean(errors.food)}
                  ref={(el) => { refs.current.food = el; }} onChange={(e) => { setFood(e.target.value); clear("food"); }}>
            {data.foods.map((f) => <option key={f.id} value={f.id}>{f.name} ({f.kcal_per_100g} kcal/100 g)</option>)}
          </select>
          {errors.food && <p className="field-error" role="alert">{errors.food}</p>}
        </div>
        <Text name="grams" label={t("webapp.food.grams")} value={grams} inputMode="decimal" refs={refs}
              onChange={(v) => { setGrams(v); clear("grams"); }} error={errors.grams} />
      </form>
      <ErrorNote error={failure} />
    </Screen>
  );
}
