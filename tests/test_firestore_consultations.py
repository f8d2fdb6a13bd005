"""FirestoreConsultations on the emulator: a message is claimed by one of many racing deliveries, an
abandoned claim is taken over after its lease, a sent one never again; video events count once."""
from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta, timezone

from shared.adapters.firestore_consultations import FirestoreConsultations, FirestoreProviderLedger
from shared.services.ports import ProviderRefund, Role, Room, VideoEvent, VideoEventKind

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def run(firestore_emulator, body):
    from google.cloud import firestore

    from shared.adapters.firestore_repositories import OpStats

    async def main():
        client = firestore.AsyncClient(project=firestore_emulator["project"])
        try:
            return await body(FirestoreConsultations(client, OpStats()), FirestoreProviderLedger(client, OpStats()))
        finally:
            client.close()

    return asyncio.run(main())


def test_one_of_racing_claims_wins_and_a_lease_runs_out(firestore_emulator):
    booking = "bk" + secrets.token_hex(6)

    async def body(repo, _):
        wins = await asyncio.gather(*(repo.claim_message(booking, "links.owner", T0, T0 + timedelta(minutes=2))
                                      for _ in range(12)))
        assert sum(wins) == 1
        # the winner died before sending: nobody may take it during the lease, anyone after it
        assert not await repo.claim_message(booking, "links.owner", T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
        late = T0 + timedelta(minutes=5)
        again = await asyncio.gather(*(repo.claim_message(booking, "links.owner", late, late + timedelta(minutes=2))
                                       for _ in range(6)))
        assert sum(again) == 1
        await repo.message_sent(booking, "links.owner", late)
        assert not await repo.claim_message(booking, "links.owner", T0 + timedelta(days=1), T0 + timedelta(days=2))
        # a released claim (the send failed) is free at once; other keys are independent
        assert await repo.claim_message(booking, "links.vet", T0, T0 + timedelta(minutes=2))
        await repo.release_message(booking, "links.vet")
        assert await repo.claim_message(booking, "links.vet", T0, T0 + timedelta(minutes=2))

    run(firestore_emulator, body)


def test_room_attendance_refund_and_followup(firestore_emulator):
    booking = "bk" + secrets.token_hex(6)

    async def body(repo, ledger):
        assert (await repo.state(booking)).room is None
        room = Room("tp-" + booking, "https://telemed-test.daily.co/tp-" + booking, T0 - timedelta(minutes=10),
                    T0 + timedelta(minutes=30))
        await repo.save_room(booking, room)
        left = VideoEvent("e-left", VideoEventKind.LEFT, room.name, Role.OWNER, T0 + timedelta(minutes=20))
        first = VideoEvent("e-1", VideoEventKind.JOINED, room.name, Role.OWNER, T0 + timedelta(minutes=1))
        second = VideoEvent("e-2", VideoEventKind.JOINED, room.name, Role.OWNER, T0 + timedelta(minutes=12))
        assert await repo.record_video_event(booking, left)
        assert await repo.record_video_event(booking, second)
        assert await repo.record_video_event(booking, first)
        assert not await repo.record_video_event(booking, first)  # redelivered
        state = await repo.state(booking)
        assert state.room == room
        assert state.attendance.joined == {"owner": T0 + timedelta(minutes=1)}
        assert not state.attendance.came("vet")
        await repo.record_refund(booking, "rf-1", T0)
        assert (await repo.state(booking)).refund_id == "rf-1"
        assert await repo.close_followup(booking, T0) and not await repo.close_followup(booking, T0)
        refund = ProviderRefund("r" * 36, "p" * 36, "succeeded", 150000)
        assert await ledger.record_refund(refund, T0) and not await ledger.record_refund(refund, T0)

    run(firestore_emulator, body)
