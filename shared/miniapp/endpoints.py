"""What every feature of the Mini App API shares (Endpoints, the base of PetsApi, DiaryApi, ConsultApi,
VetApi): the services, the bot, and the lookups made under the acting person - their unit of work, today in
their zone, a pet of theirs, their vet record, a booking they are party to and its JSON."""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, Callable

from shared.domain.bookings import Booking, BookingStatus, Party
from shared.domain.pets import InvalidInput, Pet
from shared.miniapp.json_shapes import money, utc_time
from shared.miniapp.router import NOT_FOUND, Who

if TYPE_CHECKING:
    from shared.bootstrap import MiniAppServices


class Endpoints:
    """One feature's endpoints; each feature's `register(route)` adds its routes to the router (Router.route)."""

    def __init__(self, services: MiniAppServices, *, ops_ids: frozenset[int], bot: Callable[[], Any]):
        self.s = services
        self.ops_ids = ops_ids
        self.bot = bot                  # a telegram.Bot, made on first use (invoices, notices)

    # ---- helpers ---------------------------------------------------------------------------------------
    def _uow(self, who: Who):
        return self.s.unit_of_work(who.owner)

    def _today(self, who: Who) -> date:
        from shared.services.reminders import today_for

        return today_for(who.owner, self.s.clock())

    async def _pet(self, who: Who, pet_id: str, pets=None) -> Pet:
        from shared.services.pets import PetNotFound, owned_pet

        try:
            return await owned_pet(pets or self.s.pets, who.id, pet_id)
        except PetNotFound:
            raise NOT_FOUND from None

    async def _vet_record(self, who: Who):
        if who._vet is ...:
            who._vet = await self.s.vets.get(who.id)
        return who._vet

    async def _booking(self, who: Who, booking_id: str) -> tuple[Booking, Party]:
        from shared.services.booking import owned_booking

        try:
            return await owned_booking(self.s.bookings, booking_id, who.id, ops=who.ops)
        except InvalidInput:
            raise NOT_FOUND from None

    async def _booking_json(self, who: Who, booking: Booking, party: Party, vet_names: dict | None = None) -> dict:
        from shared.domain.bookings import check_reschedule

        now = self.s.clock()
        names = vet_names if vet_names is not None else {}
        if booking.vet_id not in names:
            vet = await self.s.vets.get(booking.vet_id) if booking.vet_id else None
            names[booking.vet_id] = vet.full_name if vet else ""
        pet = {k: booking.pet.get(k) for k in ("name", "species", "breed", "sex", "birth_date",
                                               "birth_date_approximate", "weight_kg", "neutered")}
        if party is Party.OWNER:
            pet["id"] = booking.pet_id
        can_reschedule = False
        if party is Party.OWNER and booking.status is BookingStatus.CONFIRMED:
            try:
                check_reschedule(booking, now)
                can_reschedule = True
            except InvalidInput:
                pass
        can_cancel = (booking.status is BookingStatus.CONFIRMED and booking.start > now) or \
            (party is Party.OWNER and booking.hold_live(now))
        return {"id": booking.id, "status": booking.status.value, "role": party.value,
                "start": utc_time(booking.start), "end": utc_time(booking.end),
                "vet": {"id": booking.vet_id, "name": names[booking.vet_id]}, "pet": pet, "reason": booking.reason,
                "price": money(booking.price),
                "hold_expires_at": utc_time(booking.hold_expires_at) if booking.status is BookingStatus.HELD else None,
                "can_cancel": can_cancel, "can_reschedule": can_reschedule}
