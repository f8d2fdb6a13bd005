import { useEffect, useState } from "react";
import { t, tn } from "../i18n.js";
import { useApi } from "../data.js";
import { entryState, goBack, keepEntryState, navigate } from "../router.js";
import { formatDateTime, formatMoney } from "../format.js";
import { useBackButton, useMainButton } from "../tg.js";
import { ErrorNote, Loading, Screen } from "../components/ui.jsx";
import { useMe } from "../me.js";

export function VetFacts({ vet, tz }) {
  const facts = [
    vet.rating != null ? `★ ${vet.rating.toFixed(1)} (${vet.ratings})` : t("webapp.vets.new"),
    vet.experience_years != null && tn("webapp.vets.experience", vet.experience_years),
    vet.city,
  ].filter(Boolean);
  return (
    <>
      <span className="row-sub">{facts.join(" · ")}</span>
      <span className="row-sub">
        {vet.next_slot ? t("webapp.vets.next_slot", { when: formatDateTime(vet.next_slot, tz) }) : t("webapp.vets.no_slots")}
      </span>
    </>
  );
}

// The API's limit on `shown`: further pages are asked without it (exact positions, more reads).
const SHOWN_MAX = 200;

export default function Vets({ petId }) {
  const me = useMe();
  const kept = entryState("vets") || { page: 0, seen: [] }; // back from a vet's calendar: the page left
  const [page, setPage] = useState(kept.page);
  // The vet ids each page showed: a later page is asked as "the best of those not shown yet" (API.md), which
  // costs the server what the first page does; Prev asks the same way and gets the same vets if nothing changed.
  const [seen, setSeen] = useState(kept.seen);
  useEffect(() => keepEntryState("vets", { page, seen }), [page, seen]);
  const shown = page <= seen.length ? seen.slice(0, page).flat() : [];
  const query = shown.length && shown.length <= SHOWN_MAX ? `&shown=${shown.join(",")}` : "";
  const { data, error, loading, reload } = useApi(`/api/pets/${encodeURIComponent(petId)}/vets?page=${page}${query}`);
  const next = () => {
    if (data && data.page === page && seen.length >= page) setSeen([...seen.slice(0, page), data.vets.map((v) => v.id)]);
    setPage(page + 1);
  };
  useBackButton(() => goBack(`/pets/${encodeURIComponent(petId)}`));
  useMainButton(null);
  const vets = data ? data.vets : [];
  return (
    <Screen title={t("webapp.vets.title")}>
      {loading && <Loading />}
      <ErrorNote error={error} onRetry={reload} />
      {data && data.widened && <p className="note">{t("webapp.vets.widened")}</p>}
      {data && !vets.length && <p className="empty">{t("webapp.vets.empty")}</p>}
      <ul className="list">
        {vets.map((vet) => (
          <li key={vet.id}>
            <a className="row row-link" href={`/pets/${encodeURIComponent(petId)}/vets/${encodeURIComponent(vet.id)}`}
               data-vet={vet.id}
               onClick={(e) => { e.preventDefault(); navigate(`/pets/${encodeURIComponent(petId)}/vets/${encodeURIComponent(vet.id)}`); }}>
              <span className="avatar" aria-hidden="true">🩺</span>
              <span className="row-main">
                <span className="row-title">{vet.name}</span>
                <VetFacts vet={vet} tz={me.timezone} />
              </span>
              <span className="price">{formatMoney(vet.price)}</span>
            </a>
          </li>
        ))}
      </ul>
      {data && data.pages > 1 && (
        <div className="pager">
          <button type="button" className="btn btn-secondary" disabled={page === 0} onClick={() => setPage(page - 1)}>
            {t("webapp.prev")}
          </button>
          <span className="hint">{t("webapp.page", { n: page + 1, of: data.pages })}</span>
          <button type="button" className="btn btn-secondary" disabled={page + 1 >= data.pages} onClick={next}>
            {t("webapp.next")}
          </button>
        </div>
      )}
    </Screen>
  );
}
