"""The conclusion's last step pressed several times at once, posted straight to the local stack's webhook
function from threads released together (tests/test_races.py's way): one conclusion, one completed
booking, one diary entry, one set of follow-up reminders, the owner told once, every press answered once."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from google.cloud import firestore

from infra.local.bot_api_double import UpdateFactory
from shared.adapters.firestore_bookings import _booking_to
from shared.adapters.firestore_repositories import _pet_to
from shared.domain.bookings import Booking, BookingStatus, Currency, Price
from shared.domain.pets import Pet, Sex, Species
from tests.test_races import client, db  # noqa: F401 - the fixtures: the stack's Bot API double, Firestore
from tests.test_races import assert_callbacks_answered_once, last_seq, post_together, sent_to

pytestmark = pytest.mark.e2e

_USERS = itertools.count(873_000_001)  # a range of its own (test_vets_e2e counts from 880001)


def seed(db, owner_id: int, vet_id: int) -> str:
    """An owner with a pet, a vet, their booking that started 10 minutes ago, and the vet's conclusion
    dialog at its last step (what pressing through it would have left)."""
    now = datetime.now(timezone.utc)
    for person in (owner_id, vet_id):
        db.document(f"users/{person}").set({"language": "ru", "consent_at": now - timedelta(days=1),
                                            "timezone": "Europe/Moscow", "dialog": None})
    pet_ref = db.collection(f"users/{owner_id}/pets").document()
    pet_ref.set({**_pet_to(Pet(id=pet_ref.id, owner_id=owner_id, species=Species.DOG, name="Рекс", sex=Sex.MALE,
                               weight_kg=12.0)), "created_at": now})
    start = now - timedelta(minutes=10)
    booking = Booking(id=db.collection("bookings").document().id, owner_id=owner_id, vet_id=vet_id, pet_id=pet_ref.id,
                      start=start, end=start + timedelta(minutes=30), buffer_minutes=0, price=Price(150000, Currency.RUB),
                      status=BookingStatus.CONFIRMED, hold_expires_at=None, cells=(), charge_id="charge-" + pet_ref.id,
                      pet={"name": "Рекс", "species": "dog"})
    db.document(f"bookings/{booking.id}").set({**_booking_to(booking), "created_at": now, "history": []})
    db.document(f"users/{vet_id}").update({"dialog": {"name": "conclusion", "step": "cn_confirm", "draft": {
        "booking_id": booking.id, "pet": "Рекс", "summary": "Наружный отит", "recs": "Капли 7 дней",
        "follow": (now + timedelta(days=14)).date().isoformat()}}})
    return booking.id


@pytest.mark.parametrize("presses", [2, 8])
def test_a_double_tap_on_send_writes_one_conclusion(stack, client, db, presses):
    owner_id, vet_id = next(_USERS), next(_USERS)
    booking_id = seed(db, owner_id, vet_id)
    factory = UpdateFactory(client)
    taps = [factory.callback("cn:s", user_id=vet_id) for _ in range(presses)]
    since = last_seq(client)
    assert post_together(stack, taps) == [200] * presses
    conclusions = [d for d in db.collection("conclusions").stream() if d.id == booking_id]
    assert len(conclusions) == 1 and conclusions[0].get("summary") == "Наружный отит"
    assert db.document(f"bookings/{booking_id}").get().get("status") == "completed"
    pet_id = conclusions[0].get("pet_id")
    assert [d.id for d in db.collection(f"users/{owner_id}/pets/{pet_id}/consultations").stream()] == [booking_id]
    reminders = list(db.collection("reminders").where(filter=firestore.FieldFilter("owner_id", "==", owner_id)).stream())
    assert sorted(r.get("step") for r in reminders) == ["before", "due"]
    assert len([c for c in sent_to(client, owner_id, since) if "Заключение врача" in c["params"].get("text", "")]) == 1
    assert db.document(f"users/{vet_id}").get().get("dialog") is None
    assert_callbacks_answered_once(client, taps)
