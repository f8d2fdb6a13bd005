import { t } from "../i18n.js";
import { useApi } from "../data.js";
import { navigate } from "../router.js";
import { ageText, formatKg } from "../format.js";
import { useBackButton, useMainButton } from "../tg.js";
import { ErrorNote, Loading, Screen } from "../components/ui.jsx";
import { useMe } from "../me.js";

export function petLine(pet) {
  const parts = [pet.breed, ageText(pet.birth_date, pet.birth_date_approximate)];
  if (pet.weight_kg != null) parts.push(t("webapp.kg", { kg: formatKg(pet.weight_kg) }));
  return parts.filter(Boolean).join(" · ");
}

function Link({ href, icon, title }) {
  return (
    <a className="row row-link" href={href} onClick={(e) => { e.preventDefault(); navigate(href); }}>
      <span className="avatar" aria-hidden="true">{icon}</span>
      <span className="row-main"><span className="row-title">{title}</span></span>
      <span className="chevron" aria-hidden="true">›</span>
    </a>
  );
}

export default function PetsList() {
  const me = useMe();
  const { data, error, loading, reload } = useApi("/api/pets");
  useBackButton(null);
  useMainButton(t("webapp.pets.add"), () => navigate("/pets/new"));
  const pets = data ? data.pets : [];
  return (
    <Screen title={t("webapp.pets.title")}>
      {loading && <Loading />}
      <ErrorNote error={error} onRetry={reload} />
      {data && pets.length === 0 && <p className="empty">{t("webapp.pets.empty")}</p>}
      {pets.length > 0 && (
        <ul className="list" aria-label={t("webapp.pets.title")}>
          {pets.map((pet) => (
            <li key={pet.id}>
              <a className="row row-link" href={`/pets/${encodeURIComponent(pet.id)}`} data-pet={pet.id}
                 onClick={(e) => { e.preventDefault(); navigate(`/pets/${encodeURIComponent(pet.id)}`); }}>
                <span className="avatar" aria-hidden="true">{t(`species_icon.${pet.species}`)}</span>
                <span className="row-main">
                  <span className="row-title">{pet.name}</span>
                  <span className="row-sub">{petLine(pet)}</span>
                </span>
                <span className="chevron" aria-hidden="true">›</span>
              </a>
            </li>
          ))}
        </ul>
      )}
      <nav className="links">
        <ul className="list">
          <li><Link href="/bookings" icon="🗓" title={t("webapp.bookings.title")} /></li>
          {(me.roles || []).includes("vet") && <li><Link href="/vet" icon="🩺" title={t("webapp.vet.title")} /></li>}
        </ul>
      </nav>
    </Screen>
  );
}
