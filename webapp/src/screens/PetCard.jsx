import { useState } from "react";
import { t } from "../i18n.js";
import { post, del, download, ApiError } from "../api.js";
import { useApi } from "../data.js";
import { goBack, navigate } from "../router.js";
import { ageText, formatDate, formatKg, speciesLabel } from "../format.js";
import { confirmDialog, haptic, useBackButton, useMainButton } from "../tg.js";
import { ErrorNote, Loading, Screen, Section, errorText } from "../components/ui.jsx";
import WeightChart from "../components/WeightChart.jsx";
import WeekSummary from "../components/WeekSummary.jsx";

export function Details({ pet }) {
  const rows = [
    ["field.species", speciesLabel(pet.species)],
    ["field.breed", pet.breed || t("skip.breed")],
    ["field.sex", t(`sex.${pet.sex}`)],
    ["field.birth_date", pet.birth_date
      ? `${formatDate(pet.birth_date)} (${ageText(pet.birth_date, pet.birth_date_approximate)})` : t("skip.birth_date")],
    ["field.weight_kg", pet.weight_kg != null ? t("webapp.kg", { kg: formatKg(pet.weight_kg) }) : "—"],
    ["field.neutered", t(`neutered.${pet.neutered}`)],
  ];
  return (
    <dl className="details">
      {rows.map(([key, value]) => (
        <div className="details-row" key={key}>
          <dt>{t(key)}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function LogWeight({ petId, petName, onLogged }) {
  const [value, setValue] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null);
  const [warning, setWarning] = useState(null);
  async function submit(e) {
    e.preventDefault();
    const kg = Number(value.replace(",", ".").trim());
    if (!value.trim() || !Number.isFinite(kg)) {
      setProblem(t("err.weight_not_number"));
      haptic.error();
      return;
    }
    setBusy(true);
    setProblem(null);
    try {
      const answer = await post(`/api/pets/${encodeURIComponent(petId)}/weights`, { kg });
      haptic.success();
      setValue("");
      const w = answer && answer.warning;
      setWarning(w ? t(w.change < 0 ? "diary.weight_warning_loss" : "diary.weight_warning_gain", {
        name: petName, percent: Math.round(Math.abs(w.change) * 100), since: formatDate(w.since),
        before: t("webapp.kg", { kg: formatKg(w.from_kg) }) }) : null);
      onLogged();
    } catch (err) {
      haptic.error();
      setProblem(err instanceof ApiError ? errorText(err) : String(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="inline-form" onSubmit={submit} noValidate>
      <label htmlFor="weight-input" className="label">{t("webapp.weight.log")}</label>
      <div className="inline-row">
        <input id="weight-input" name="kg" inputMode="decimal" autoComplete="off" className="input"
               placeholder={t("webapp.weight.placeholder")} value={value} aria-invalid={Boolean(problem)}
               aria-describedby={problem ? "weight-error" : undefined} onChange={(e) => setValue(e.target.value)} />
        <button type="submit" className="btn" disabled={busy}>{t("webapp.save")}</button>
      </div>
      {problem && <p id="weight-error" className="field-error" role="alert">{problem}</p>}
      {warning && <p className="note" role="status">{warning}</p>}
    </form>
  );
}

export function TreatmentList({ treatments }) {
  return (
    <ul className="list">
      {treatments.map((item) => (
        <li key={item.id} className="row">
          <span className="row-main">
            <span className="row-title">{item.product || t(`diary.kind.${item.kind}`)}</span>
            <span className="row-sub">
              {item.given_on && t("webapp.treatments.given", { date: formatDate(item.given_on) })}
              {item.next_due && ` · ${t("webapp.treatments.due", { date: formatDate(item.next_due) })}`}
            </span>
          </span>
          {item.status === "overdue" && <span className="badge badge-danger">{t("webapp.treatments.overdue")}</span>}
          {item.status === "due" && <span className="badge">{t("webapp.treatments.soon")}</span>}
        </li>
      ))}
    </ul>
  );
}

function Treatments({ petId }) {
  const { data } = useApi(`/api/pets/${encodeURIComponent(petId)}/treatments`);
  if (!data || !data.treatments || !data.treatments.length) return null;
  return (
    <Section id="treatments" title={t("webapp.treatments.title")}>
      <TreatmentList treatments={data.treatments} />
    </Section>
  );
}

function Week({ petId, petName }) {
  const base = `/api/pets/${encodeURIComponent(petId)}`;
  const { data } = useApi(`${base}/week`);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState(null);
  async function pdf() {
    setBusy(true);
    setFailure(null);
    try {
      // fetched with the initData header, then handed to the browser as a file
      const url = URL.createObjectURL(await download(`${base}/export.pdf`));
      const a = document.createElement("a");
      a.href = url;
      a.download = `${petName}.pdf`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      haptic.success();
    } catch (err) {
      haptic.error();
      setFailure(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <Section id="week" title={t("webapp.pet.week")}>
      {data && <WeekSummary week={data} weights={data.weights} />}
      <div className="actions">
        <button type="button" className="btn btn-secondary" disabled={busy} onClick={pdf} data-testid="pdf">
          {t("diary.btn.pdf")}
        </button>
      </div>
      <ErrorNote error={failure} />
    </Section>
  );
}

function DiaryLinks({ petId }) {
  const base = `/pets/${encodeURIComponent(petId)}`;
  const links = [["photo", "triage.btn.check"], ["food", "diary.btn.food"], ["activity", "diary.btn.activity"],
    ["treatments/new", "diary.btn.add_treatment"]];
  return (
    <nav className="links" aria-label={t("webapp.pet.week")}>
      <ul className="list">
        {links.map(([path, key]) => (
          <li key={path}>
            <a className="row row-link" href={`${base}/${path}`} onClick={(e) => { e.preventDefault(); navigate(`${base}/${path}`); }}>
              <span className="row-main"><span className="row-title">{t(key)}</span></span>
              <span className="chevron" aria-hidden="true">›</span>
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export default function PetCard({ petId }) {
  const base = `/api/pets/${encodeURIComponent(petId)}`;
  const pet = useApi(base);
  const weights = useApi(`${base}/weights`);
  const [deleteError, setDeleteError] = useState(null);
  useBackButton(() => goBack("/"));
  useMainButton(pet.data ? t("webapp.pet.find_vet") : null, () => navigate(`/pets/${encodeURIComponent(petId)}/vets`));
  async function remove() {
    if (!(await confirmDialog(t("webapp.pet.delete_confirm", { name: pet.data.pet.name })))) return;
    try {
      await del(base);
      haptic.success();
      navigate("/", { replace: true });
    } catch (err) {
      haptic.error();
      setDeleteError(err);
    }
  }
  if (pet.loading && !pet.data) return <Screen><Loading /></Screen>;
  if (pet.error) return <Screen><ErrorNote error={pet.error} onRetry={pet.reload} /></Screen>;
  const p = pet.data.pet;
  return (
    <Screen title={`${t(`species_icon.${p.species}`)} ${p.name}`}>
      <Section id="about">
        <Details pet={p} />
        <div className="actions">
          <button type="button" className="btn btn-secondary" onClick={() => navigate(`/pets/${encodeURIComponent(petId)}/edit`)}>
            {t("webapp.pet.edit")}
          </button>
          <button type="button" className="btn btn-danger-text" onClick={remove}>{t("webapp.pet.delete")}</button>
        </div>
        <ErrorNote error={deleteError} />
      </Section>
      <Section id="weight" title={t("webapp.weight.title")}>
        {weights.loading && !weights.data && <Loading />}
        <ErrorNote error={weights.error} onRetry={weights.reload} />
        {weights.data && <WeightChart weights={weights.data.weights} />}
        <LogWeight petId={petId} petName={p.name} onLogged={() => { weights.reload(); pet.reload(); }} />
      </Section>
      <DiaryLinks petId={petId} />
      <Week petId={petId} petName={p.name} />
      <Treatments petId={petId} />
    </Screen>
  );
}
