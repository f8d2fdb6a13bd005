// The vet's desk: upcoming consultations (the pet as booked and the reason; tap for the whole card) and
// the way to the schedule editor.
import { t } from "../../i18n.js";
import { useApi } from "../../data.js";
import { goBack, navigate } from "../../router.js";
import { formatDateTime } from "../../format.js";
import { useBackButton, useMainButton } from "../../tg.js";
import { ErrorNote, Loading, Screen, Section } from "../../components/ui.jsx";
import { useMe } from "../../me.js";
import { petLine } from "../PetsList.jsx";

function Row({ href, icon, title, sub, testid }) {
  return (
    <a className="row row-link" href={href} data-testid={testid}
       onClick={(e) => { e.preventDefault(); navigate(href); }}>
      <span className="avatar" aria-hidden="true">{icon}</span>
      <span className="row-main">
        <span className="row-title">{title}</span>
        {sub && <span className="row-sub">{sub}</span>}
      </span>
      <span className="chevron" aria-hidden="true">›</span>
    </a>
  );
}

export default function VetHome() {
  const me = useMe();
  const { data, error, loading, reload } = useApi("/api/vet/bookings");
  useBackButton(() => goBack("/"));
  useMainButton(null);
  const bookings = data ? data.bookings : [];
  return (
    <Screen title={t("webapp.vet.title")}>
      <nav className="links">
        <Row href="/vet/schedule" icon="🗓" title={t("webapp.vet.schedule")} />
      </nav>
      <Section id="upcoming" title={t("webapp.vet.upcoming")}>
        {loading && !data && <Loading />}
        <ErrorNote error={error} onRetry={reload} />
        {data && !bookings.length && <p className="empty">{t("webapp.vet.none")}</p>}
        {bookings.length > 0 && (
          <ul className="list">
            {bookings.map((b) => (
              <li key={b.id} data-booking={b.id}>
                <Row href={`/vet/bookings/${encodeURIComponent(b.id)}`} icon={t(`species_icon.${b.pet.species}`)}
                     title={`${formatDateTime(b.start, me.timezone)} · ${b.pet.name}`}
                     sub={[petLine(b.pet), t("booking.vet_reason", { reason: b.reason || "—" })].filter(Boolean).join(" · ")} />
              </li>
            ))}
          </ul>
        )}
      </Section>
    </Screen>
  );
}
