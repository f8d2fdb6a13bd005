import { Suspense, lazy } from "react";
import { t } from "./i18n.js";
import { match, useRoute } from "./router.js";
import { MeContext } from "./me.js";
import { Loading, Screen } from "./components/ui.jsx";
import PetsList from "./screens/PetsList.jsx";
import PetCard from "./screens/PetCard.jsx";
import PetForm from "./screens/PetForm.jsx";
import Vets from "./screens/Vets.jsx";
import Calendar from "./screens/Calendar.jsx";
import Checkout from "./screens/Checkout.jsx";
import BookingDone from "./screens/BookingDone.jsx";
import Bookings from "./screens/Bookings.jsx";
import Reschedule from "./screens/Reschedule.jsx";

// The video room and its SDKs load only when a room is opened; the vet's screens only for a vet; the photo
// check and the diary's forms when opened.
const Room = lazy(() => import("./screens/Room.jsx"));
const VetHome = lazy(() => import("./screens/vet/VetHome.jsx"));
const VetSchedule = lazy(() => import("./screens/vet/Schedule.jsx"));
const VetBooking = lazy(() => import("./screens/vet/VetBooking.jsx"));
const PhotoCheck = lazy(() => import("./screens/diary/PhotoCheck.jsx"));
const Food = lazy(() => import("./screens/diary/Food.jsx"));
const Activity = lazy(() => import("./screens/diary/Activity.jsx"));
const TreatmentForm = lazy(() => import("./screens/diary/TreatmentForm.jsx"));

const ROUTES = [
  ["/", () => <PetsList />],
  ["/pets/new", () => <PetForm />],
  ["/pets/:pet", (p) => <PetCard key={p.pet} petId={p.pet} />],
  ["/pets/:pet/edit", (p) => <PetForm key={p.pet} petId={p.pet} />],
  ["/pets/:pet/photo", (p) => <PhotoCheck key={p.pet} petId={p.pet} />],
  ["/pets/:pet/food", (p) => <Food key={p.pet} petId={p.pet} />],
  ["/pets/:pet/activity", (p) => <Activity key={p.pet} petId={p.pet} />],
  ["/pets/:pet/treatments/new", (p) => <TreatmentForm key={p.pet} petId={p.pet} />],
  ["/pets/:pet/vets", (p) => <Vets key={p.pet} petId={p.pet} />],
  ["/pets/:pet/vets/:vet", (p) => <Calendar key={`${p.pet}/${p.vet}`} petId={p.pet} vetId={p.vet} />],
  ["/pets/:pet/vets/:vet/book", (p, q) => <Checkout key={q.get("start")} petId={p.pet} vetId={p.vet} start={q.get("start")} />],
  ["/bookings", () => <Bookings />],
  ["/bookings/:booking", (p) => <BookingDone key={p.booking} bookingId={p.booking} />],
  ["/bookings/:booking/reschedule", (p) => <Reschedule key={p.booking} bookingId={p.booking} />],
  ["/room/:booking", (p) => <Room bookingId={p.booking} />],
  ["/vet", () => <VetHome />],
  ["/vet/schedule", () => <VetSchedule />],
  ["/vet/bookings/:booking", (p) => <VetBooking key={p.booking} bookingId={p.booking} />],
];

export function Blocked({ reason }) {
  return (
    <Screen title="Telemed-Pet">
      <p className="note" role="alert" data-testid="blocked">{t(`webapp.blocked.${reason}`)}</p>
    </Screen>
  );
}

export default function App({ me }) {
  const { path, query } = useRoute();
  for (const [pattern, render] of ROUTES) {
    const params = match(pattern, path);
    if (params) {
      return (
        <MeContext.Provider value={me}>
          <Suspense fallback={<Screen><Loading /></Screen>}>{render(params, query)}</Suspense>
        </MeContext.Provider>
      );
    }
  }
  return <Screen><p className="empty">{t("webapp.err.not_found")}</p></Screen>;
}
