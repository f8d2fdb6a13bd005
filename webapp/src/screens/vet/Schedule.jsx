// The vet's schedule: hours for each weekday, exceptions for dates, slot length, break, notice, horizon,
// daily cap, zone. Saved whole (PUT /api/vet/schedule); a refusal is shown under its field with the bot's words.
import { useEffect, useState } from "react";
import { t } from "../../i18n.js";
import { get, put } from "../../api.js";
import { goBack } from "../../router.js";
import { formatDate } from "../../format.js";
import { useBackButton, useMainButton } from "../../tg.js";
import { ErrorNote, Loading, Screen, Section } from "../../components/ui.jsx";
import { Choice, Text, useFieldErrors, useSubmit } from "../../components/fields.jsx";

// Russia's zones west to east, then the CIS capitals the bot's vets are in.
const ZONES = ["Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
  "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok", "Asia/Magadan",
  "Asia/Kamchatka", "Europe/Minsk", "Asia/Almaty", "Asia/Tashkent", "Asia/Bishkek", "Asia/Yerevan", "Asia/Tbilisi",
  "Asia/Baku"];
const NUMBERS = ["notice_minutes", "horizon_days", "daily_cap"];

const weekday = (i) => formatDate(`2024-01-0${i + 1}`, { weekday: "long" });
const joinHours = (hours) => hours.join(", ");
const splitHours = (text) => text.split(/[,;\n]+/).map((h) => h.trim()).filter(Boolean);
let rowKey = 0;

function toForm(s) {
  return {
    timezone: s.timezone, weekly: s.weekly.map(joinHours),
    overrides: s.overrides.map((o) => ({ key: (rowKey += 1), date: o.date, hours: joinHours(o.hours) })),
    slot_minutes: s.slot_minutes, buffer_minutes: s.buffer_minutes, notice_minutes: String(s.notice_minutes),
    horizon_days: String(s.horizon_days), daily_cap: s.daily_cap == null ? "" : String(s.daily_cap),
  };
}

export default function Schedule() {
  const [loaded, setLoaded] = useState(null);
  const [form, setForm] = useState(null);
  const { errors, setErrors, refs, refuse, clear } = useFieldErrors();
  // weekly.<day>, overrides.<date> or a setting; a bad override date without one: the section
  const { busy, failure, submit } = useSubmit(refuse, (field) => (field.startsWith("overrides.")
    && !form.overrides.some((o) => `overrides.${o.date}` === field) ? "overrides" : field));
  const [loadError, setLoadError] = useState(null);
  const [saved, setSaved] = useState(null);
  useEffect(() => {
    let live = true;
    get("/api/vet/schedule").then(
      (answer) => { if (live) { setLoaded(answer.schedule); setForm(toForm(answer.schedule)); } },
      (err) => live && setLoadError(err));
    return () => { live = false; };
  }, []);
  const set = (key, value) => {
    setForm((f) => ({ ...f, [key]: value }));
    clear(key);
    setSaved(null);
  };
  const setDay = (i, value) => {
    setForm((f) => ({ ...f, weekly: f.weekly.map((h, j) => (j === i ? value : h)) }));
    clear(`weekly.${i}`);
    setSaved(null);
  };
  const setOverride = (key, change) => {
    setForm((f) => ({ ...f, overrides: f.overrides.map((o) => (o.key === key ? { ...o, ...change } : o)) }));
    setErrors({});
    setSaved(null);
  };

  async function save() {
    if (!form) return;
    const body = {
      timezone: form.timezone, weekly: form.weekly.map(splitHours),
      overrides: form.overrides.map((o) => ({ date: o.date, hours: splitHours(o.hours) })),
      slot_minutes: form.slot_minutes, buffer_minutes: form.buffer_minutes,
    };
    for (const name of NUMBERS) {
      const text = form[name].trim();
      if (name === "daily_cap" && !text) { body.daily_cap = null; continue; }
      if (!/^\d+$/.test(text)) { refuse(name, t("webapp.vet.whole_number")); return; }
      body[name] = Number(text);
    }
    setSaved(null);
    const answer = await submit(() => put("/api/vet/schedule", body));
    if (answer) {
      setLoaded(answer.schedule);
      setForm(toForm(answer.schedule));
      setErrors({});
      setSaved(answer.published ? "published" : "saved");
    }
  }

  useBackButton(() => goBack("/vet"));
  useMainButton(form ? t("webapp.save") : null, save, { progress: busy });
  if (!form) return <Screen title={t("webapp.vet.schedule")}>{loadError ? <ErrorNote error={loadError} /> : <Loading />}</Screen>;
  const zones = ZONES.includes(form.timezone) ? ZONES : [form.timezone, ...ZONES];
  const choices = loaded.choices;
  return (
    <Screen title={t("webapp.vet.schedule")}>
      <form className="form" noValidate onSubmit={(e) => { e.preventDefault(); save(); }}>
        <Section id="weekly" title={t("webapp.vet.weekly")}>
          <div className="form-rows">
            <p className="hint small" id="hours-hint">{t("webapp.vet.hours_hint")}</p>
            {form.weekly.map((hours, i) => (
              <Text key={i} name={`weekly.${i}`} label={weekday(i)} value={hours} refs={refs}
                    placeholder={t("webapp.vet.day_off")}
                    onChange={(v) => setDay(i, v)} error={errors[`weekly.${i}`]} />
            ))}
          </div>
        </Section>
        <Section id="overrides" title={t("webapp.vet.overrides")}>
          <div className="form-rows">
            <p className="hint small">{t("webapp.vet.overrides_hint")}</p>
            {form.overrides.map((o) => (
              <div className="override" key={o.key} data-override={o.date}>
                <Text name={`overrides.${o.key}.date`} type="date" label={t("webapp.vet.override_date")} value={o.date}
                      refs={refs} onChange={(v) => setOverride(o.key, { date: v })} />
                <Text name={`overrides.${o.date}`} label={t("webapp.vet.override_hours")} value={o.hours} refs={refs}
                      onChange={(v) => setOverride(o.key, { hours: v })} error={errors[`overrides.${o.date}`]} />
                <button type="button" className="btn btn-danger-text"
                        onClick={() => set("overrides", form.overrides.filter((x) => x.key !== o.key))}>
                  {t("webapp.vet.override_remove")}
                </button>
              </div>
            ))}
            {errors.overrides && <p className="field-error" role="alert">{errors.overrides}</p>}
            <button type="button" className="btn btn-secondary"
                    onClick={() => set("overrides", [...form.overrides, { key: (rowKey += 1), date: "", hours: "" }])}>
              {t("webapp.vet.override_add")}
            </button>
          </div>
        </Section>
        <Section id="settings" title={t("webapp.vet.settings")}>
          <div className="form-rows">
            <Choice name="slot_minutes" legend={t("webapp.vet.slot")} options={choices.slot_minutes}
                    value={form.slot_minutes} onChange={(v) => set("slot_minutes", v)}
                    labelOf={(n) => t("webapp.vet.minutes", { n })} error={errors.slot_minutes} />
            <Choice name="buffer_minutes" legend={t("webapp.vet.buffer")} options={choices.buffer_minutes}
                    value={form.buffer_minutes} onChange={(v) => set("buffer_minutes", v)}
                    labelOf={(n) => t("webapp.vet.minutes", { n })} error={errors.buffer_minutes} />
            <Text name="notice_minutes" label={t("webapp.vet.notice")} value={form.notice_minutes} inputMode="numeric"
                  refs={refs} onChange={(v) => set("notice_minutes", v)} error={errors.notice_minutes} />
            <Text name="horizon_days" label={t("webapp.vet.horizon")} value={form.horizon_days} inputMode="numeric"
                  refs={refs} onChange={(v) => set("horizon_days", v)} error={errors.horizon_days} />
            <Text name="daily_cap" label={t("webapp.vet.cap")} value={form.daily_cap} inputMode="numeric"
                  hint={t("webapp.vet.cap_hint")} refs={refs} onChange={(v) => set("daily_cap", v)}
                  error={errors.daily_cap} />
            <div className="field">
              <label className="label" htmlFor="f-timezone">{t("webapp.vet.timezone")}</label>
              <select id="f-timezone" className="input" value={form.timezone} aria-invalid={Boolean(errors.timezone)}
                      aria-describedby={errors.timezone ? "timezone-error" : undefined}
                      ref={(el) => { refs.current.timezone = el; }} onChange={(e) => set("timezone", e.target.value)}>
                {zones.map((z) => <option key={z} value={z}>{z.split("/").pop().replace(/_/g, " ")} ({z})</option>)}
              </select>
              {errors.timezone && <p id="timezone-error" className="field-error" role="alert">{errors.timezone}</p>}
            </div>
          </div>
        </Section>
      </form>
      {saved && <p className="success" role="status" data-testid="schedule-saved">{t(`webapp.vet.${saved}`)}</p>}
      <ErrorNote error={failure} />
    </Screen>
  );
}
