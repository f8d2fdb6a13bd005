"""The Mini App's API (shared/miniapp/api.py) on the Firestore emulator, beside the bot that shares its
services: an authorization matrix (every endpoint x the pet's owner, another owner, the booking's vet,
another vet, ops, an unknown user, no or forged initData: only the right ones get 2xx, the others
401/403/404 with nothing of anyone leaked and nothing written), bad input, the pet added here seen in the
bot's /pets, a hold paid through createInvoiceLink taken by the webhook like an invoice message, and a
write racing erasure."""
from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from shared.domain.owners import Owner
from tests.booking_harness import NOW, TOKEN, BookingBot, client, double, vet, yookassa  # noqa: F401
from tests.miniapp_harness import OPS_ID, MiniApp, dump, signed_init_data

pytestmark = pytest.mark.integration

OWNER, OTHER, VET, OTHER_VET, UNKNOWN = 7_100_000_001, 7_100_000_002, 7_200_000_001, 7_200_000_002, 7_400_000_001
PERSONAS = {"owner": OWNER, "other_owner": OTHER, "vet": VET, "other_vet": OTHER_VET, "ops": OPS_ID,
            "unknown": UNKNOWN, "no_init_data": None, "forged": None, "other_bot": None}
REASON = "Чешет ухо секретно"


def auth_for(persona: str) -> str | None:
    if persona == "no_init_data":
        return ""
    if persona == "forged":
        good = signed_init_data(OWNER)
        return "tma " + good.replace(str(OWNER), str(OWNER + 1))
    if persona == "other_bot":
        return "tma " + signed_init_data(OWNER, "999:ANOTHER-BOT")
    return None


@pytest.fixture
async def world(client, double, yookassa):  # noqa: F811
    bot = BookingBot(client, double, yookassa)
    app = MiniApp(bot)
    [pet] = await bot.owner(OWNER, tz="Europe/Moscow")
    [other_pet] = await bot.owner(OTHER)
    for person in (VET, OTHER_VET, OPS_ID):
        await bot.owner(person, pets=0)
    await bot.vets(vet(VET, name="Доктор Айболит"), vet(OTHER_VET, name="Доктор Другой"))
    # a consultation of the owner's pet with VET, held and paid through the Mini App's invoice link
    status, cal = await app.call("GET", f"/api/vets/{VET}/calendar?pet={pet.id}", OWNER)
    assert status == 200, cal
    start = cal["days"][2]["slots"][2]["start"]
    status, held = await app.call("POST", "/api/bookings", OWNER, {"pet": pet.id, "vet": VET, "start": start,
                                                                   "reason": REASON})
    assert status == 201, held
    booking_id = held["booking"]["id"]
    status, inv = await app.call("POST", f"/api/bookings/{booking_id}/invoice", OWNER)
    assert status == 200 and inv["invoice_link"].startswith("https://t.me/$"), inv
    await pay_link(bot, inv["invoice_link"], OWNER)
    status, got = await app.call("GET", f"/api/bookings/{booking_id}", OWNER)
    assert got["booking"]["status"] == "confirmed", got
    return dict(bot=bot, app=app, client=client, pet=pet, other_pet=other_pet, booking=booking_id, start=start,
                slots=cal["days"][3]["slots"])


async def pay_link(bot: BookingBot, link: str, user_id: int) -> dict:
    """Telegram's payment of an invoice link: the pre-checkout query and the successful payment, to the webhook."""
    built = bot.double.pay(link, user_id, deliver=False, yookassa=bot.yookassa)
    assert await bot.deliver(built["pre_checkout"]) == 200
    [query] = bot.double.pre_checkout_answers(built["pre_checkout"]["pre_checkout_query"]["id"])
    assert query["answers"] and query["answers"][0]["ok"], query
    assert await bot.deliver(built["successful_payment"]) == 200
    return built


def secrets_of(world) -> list[str]:
    """What must never reach anyone but the owner (and the vet, for the booking): the pet's name, id, the
    reason, the owner's id."""
    return [world["pet"].name, world["pet"].id, REASON, str(OWNER)]


def refused(status: int, body: dict, world) -> None:
    assert status in (401, 403, 404, 405, 409), (status, body)
    assert set(body) <= {"error", "key", "message", "field"}, body
    text = json.dumps(body, ensure_ascii=False)
    for secret in secrets_of(world):
        assert secret not in text, (secret, body)


def matrix(world) -> list[tuple[str, str, object, set[str]]]:
    """(method, path, body, personas that may): the order keeps destructive calls last."""
    pet, b, other_pet = world["pet"].id, world["booking"], world["other_pet"].id
    move_to = world["slots"][0]["start"]
    return [
        ("GET", f"/api/pets/{pet}", None, {"owner"}),
        ("GET", f"/api/pets/{pet}/weights", None, {"owner"}),
        ("GET", f"/api/pets/{pet}/treatments", None, {"owner"}),
        ("GET", f"/api/pets/{pet}/week", None, {"owner"}),
        ("GET", f"/api/pets/{pet}/vets", None, {"owner"}),
        ("GET", f"/api/vets/{VET}/calendar?pet={pet}", None, {"owner"}),
        ("PATCH", f"/api/pets/{pet}", {"breed": "Такса"}, {"owner"}),
        ("POST", f"/api/pets/{pet}/weights", {"kg": 12.4}, {"owner"}),
        ("POST", "/api/bookings", {"pet": pet, "vet": OTHER_VET, "start": move_to, "reason": "осмотр"}, {"owner"}),
        ("GET", f"/api/bookings/{b}", None, {"owner", "vet", "ops"}),
        ("GET", f"/api/bookings/{b}/cancel", None, {"owner", "vet", "ops"}),
        ("GET", f"/api/bookings/{b}/patient", None, {"vet", "ops"}),
        ("GET", f"/api/bookings/{b}/reschedule", None, {"owner"}),
        ("POST", f"/api/bookings/{b}/invoice", None, set()),        # paid already: nobody gets a link
        ("POST", f"/api/bookings/{b}/reschedule", {"start": move_to}, {"owner"}),
        # its owner, its vet and ops may cancel it (only one can): the vet does here, with a reason; the
        # owner's cancellation is test_the_vet_is_told_of_a_cancellation_made_in_the_app
        ("POST", f"/api/bookings/{b}/cancel", {"reason": "illness"}, {"vet"}),
        ("DELETE", f"/api/pets/{pet}", None, {"owner"}),
        ("GET", f"/api/pets/{other_pet}", None, {"other_owner"}),   # the other way round
    ]


async def test_authorization_matrix(world):
    app, client = world["app"], world["client"]
    for method, path, body, allowed in matrix(world):
        before = await dump(client)
        for persona, user in PERSONAS.items():
            if persona in allowed or (path.endswith("/cancel") and method == "POST" and persona in ("owner", "ops")):
                continue
            status, answer = await app.call(method, path, user, body, auth=auth_for(persona))
            refused(status, answer, world)
            if persona in ("no_init_data", "forged", "other_bot"):
                assert (status, answer) == (401, {"error": "unauthorized"}), (method, path, persona)
            elif persona == "unknown":
                assert (status, answer["error"]) == (403, "not_registered"), (method, path, answer)
            else:
                assert status in (403, 404, 409), (method, path, persona, status, answer)
        assert await dump(client) == before, f"{method} {path}: a refused request wrote something"
        for persona in sorted(allowed):
            status, answer = await app.call(method, path, PERSONAS[persona], body)
            assert 200 <= status < 300, (method, path, persona, status, answer)


async def test_lists_show_each_person_only_their_own(world):
    app = world["app"]
    for persona, user in PERSONAS.items():
        if user is None:
            continue
        status, answer = await app.call("GET", "/api/bookings", user)
        if persona == "unknown":
            assert status == 403
            continue
        assert status == 200
        ids = [b["id"] for b in answer["as_owner"]], [b["id"] for b in answer["as_vet"]]
        assert ids == {"owner": ([world["booking"]], []), "vet": ([], [world["booking"]])}.get(persona, ([], [])), persona
        status, pets = await app.call("GET", "/api/pets", user)
        names = [p["name"] for p in pets["pets"]]
        assert (world["pet"].name in names) == (persona == "owner") or persona == "other_owner"
        assert all(world["pet"].id != p["id"] for p in pets["pets"]) or persona == "owner"
    # the vet sees the pet's card as booked, never the owner's id or the pet's id
    status, seen = await app.call("GET", f"/api/bookings/{world['booking']}", VET)
    assert seen["booking"]["pet"]["name"] == world["pet"].name and "id" not in seen["booking"]["pet"]
    assert str(OWNER) not in json.dumps(seen) and world["pet"].id not in json.dumps(seen)
    status, me = await app.call("GET", "/api/me", UNKNOWN)
    assert status == 200 and me["registered"] is False and me["roles"] == []
    status, me = await app.call("GET", "/api/me", VET)
    assert me["roles"] == ["owner", "vet"]
    status, me = await app.call("GET", "/api/me", OPS_ID)
    assert me["roles"] == ["owner", "ops"]


async def test_bad_input_is_a_400_with_the_field(world):
    app, client = world["app"], world["client"]
    pet = world["pet"].id
    before = await dump(client)
    cases = [
        ("POST", "/api/pets", {"species": "cat"}, "name"),
        ("POST", "/api/pets", {"name": "Мурка"}, "species"),
        ("POST", "/api/pets", {"species": "dragon", "name": "Мурка"}, "species"),
        ("POST", "/api/pets", {"species": "cat", "name": "  "}, "name"),
        ("POST", "/api/pets", {"species": "cat", "name": "М" * 41}, "name"),
        ("POST", "/api/pets", {"species": "cat", "name": "Мурка", "weight_kg": 4200}, "weight_kg"),
        ("POST", "/api/pets", {"species": "cat", "name": "Мурка", "weight_kg": "много"}, "weight_kg"),
        ("POST", "/api/pets", {"species": "cat", "name": "Мурка", "age": "сто лет"}, "birth_date"),
        ("POST", "/api/pets", {"species": "cat", "name": "Мурка", "birth_date": "2090-01-01"}, "birth_date"),
        ("POST", "/api/pets", {"species": "cat", "name": "Мурка", "owner_id": OTHER}, "owner_id"),
        ("PATCH", f"/api/pets/{pet}", {"species": "cat", "weight_kg": 30}, "weight_kg"),  # no cat weighs 30 kg
        ("POST", "/api/pets", {"species": "rodent", "name": "Хома", "birth_date": "2000-01-01"}, "birth_date"),
        ("POST", f"/api/pets/{pet}/weights", {"kg": -3}, "kg"),
        ("POST", f"/api/pets/{pet}/weights", {"kg": True}, "kg"),
        ("POST", "/api/bookings", {"pet": pet, "vet": VET, "start": "tomorrow", "reason": "x"}, "start"),
        ("POST", "/api/bookings", {"pet": pet, "vet": VET, "start": world["slots"][0]["start"], "reason": ""}, "reason"),
        ("POST", "/api/bookings", {"pet": pet, "vet": VET, "start": "2026-12-03T07:07:00Z", "reason": "x"}, "start"),
        ("POST", "/api/bookings", {"pet": pet, "vet": "1", "start": world["slots"][0]["start"], "reason": "x"}, "vet"),
    ]
    for method, path, body, field in cases:
        status, answer = await app.call(method, path, OWNER, body)
        assert status == 400 and answer["error"] == "invalid" and answer.get("field") == field, (body, answer)
    status, answer = await app.call("POST", "/api/pets", OWNER, b"{not json")
    assert (status, answer) == (400, {"error": "bad_json"})
    status, answer = await app.call("GET", f"/api/vets/{VET}/calendar?pet={pet}&days=99", OWNER)
    assert status == 400 and answer["field"] == "days"
    assert await dump(client) == before


async def test_a_pet_added_in_the_app_is_in_the_bots_pets(world):
    app, bot = world["app"], world["bot"]
    status, added = await app.call("POST", "/api/pets", OWNER, {"species": "cat", "name": "Мурка", "sex": "female",
                                                               "birth_date": "2020-05-01", "weight_kg": 4.2})
    assert status == 201 and added["pet"]["name"] == "Мурка" and added["pet"]["weight_kg"] == 4.2
    status, typed = await app.call("POST", "/api/pets", OWNER, {"species": "dog", "name": "Бим", "age": "3 года",
                                                               "weight_kg": "8,5"})
    assert status == 201 and typed["pet"]["weight_kg"] == 8.5 and typed["pet"]["birth_date_approximate"] is True
    assert (await app.call("DELETE", f"/api/pets/{typed['pet']['id']}", OWNER))[0] == 200
    await bot.say("/pets", OWNER)
    assert any("Мурка" in text for text in bot.buttons(OWNER)), bot.buttons(OWNER)
    status, listed = await app.call("GET", "/api/pets", OWNER)
    assert {p["name"] for p in listed["pets"]} == {world["pet"].name, "Мурка"}
    status, weighed = await app.call("POST", f"/api/pets/{added['pet']['id']}/weights", OWNER, {"kg": 4.4})
    assert status == 201 and weighed["weight"]["kg"] == 4.4
    status, weights = await app.call("GET", f"/api/pets/{added['pet']['id']}/weights", OWNER)
    assert [w["kg"] for w in weights["weights"]] == [4.4]


async def test_the_vet_is_told_of_a_cancellation_made_in_the_app(world):
    app, bot = world["app"], world["bot"]
    since = bot.seq()
    status, done = await app.call("POST", f"/api/bookings/{world['booking']}/cancel", OWNER)
    assert status == 200 and done["booking"]["status"] == "cancelled" and done["refund"]["amount"] > 0
    assert any("Рекс" in text for text in bot.texts(VET, since)), bot.texts(VET, since)
    status, again = await app.call("POST", f"/api/bookings/{world['booking']}/cancel", OWNER)
    assert status == 409 and again["error"] == "conflict"


async def test_writes_racing_erasure_write_nothing(world):
    """/privacy deletes users/{id} first: a request that read the owner before and commits after lands nothing."""
    app, bot, client = world["app"], world["bot"], world["client"]
    services = app.services
    real_get = services.owners.get
    erased = asyncio.Event()
    proceed = asyncio.Event()

    async def slow_get(owner_id: int):  # the request reads the owner, then waits until erasure is through
        owner = await real_get(owner_id)
        erased.set()
        await proceed.wait()
        return owner

    object.__setattr__(services, "owners", type("Slow", (), {"get": staticmethod(slow_get)})())
    request = asyncio.ensure_future(app.call("POST", "/api/pets", OWNER, {"species": "cat", "name": "Поздняя"}))
    weight = asyncio.ensure_future(app.call("POST", f"/api/pets/{world['pet'].id}/weights", OWNER, {"kg": 13.0}))
    await erased.wait()
    await bot.say("/privacy", OWNER)
    await bot.press("privacy:forget", OWNER)
    await bot.press("privacy:forget_yes", OWNER)
    assert await real_get(OWNER) is None, "the erasure did not go through"
    after_erasure = await dump(client)
    proceed.set()
    assert (await request)[0] == 410 and (await weight)[0] in (404, 410)
    assert await dump(client) == after_erasure
    assert not any(doc.startswith(f"users/{OWNER}") for doc in after_erasure)


async def test_an_invoice_link_only_for_a_live_hold_of_ones_own(world):
    app, bot = world["app"], world["bot"]
    status, held = await app.call("POST", "/api/bookings", OWNER, {
        "pet": world["pet"].id, "vet": OTHER_VET, "start": world["slots"][1]["start"], "reason": "осмотр"})
    assert status == 201
    b = held["booking"]["id"]
    assert (await app.call("POST", f"/api/bookings/{b}/invoice", OTHER))[0] == 404
    assert (await app.call("POST", f"/api/bookings/{b}/invoice", OTHER_VET))[0] == 404  # its vet: no payer
    status, inv = await app.call("POST", f"/api/bookings/{b}/invoice", OWNER)
    assert status == 200
    invoice = bot.double.invoice(inv["invoice_link"])
    assert invoice["payload"] == b and invoice["currency"] == "RUB" and invoice["total_amount"] == 150000
    bot.now = NOW + timedelta(minutes=11)  # the hold ran out
    status, late = await app.call("POST", f"/api/bookings/{b}/invoice", OWNER)
    assert status == 409


async def test_another_owner_cannot_book_with_someone_elses_pet(world):
    app, client = world["app"], world["client"]
    before = await dump(client)
    status, answer = await app.call("POST", "/api/bookings", OTHER, {
        "pet": world["pet"].id, "vet": OTHER_VET, "start": world["slots"][1]["start"], "reason": "осмотр"})
    refused(status, answer, world)
    assert status == 404 and await dump(client) == before


async def test_an_unconsented_record_is_not_registered(world):
    bot, app = world["bot"], world["app"]
    await bot.services.owners.create(Owner(id=UNKNOWN + 1, language="ru"))
    assert (await app.call("GET", "/api/pets", UNKNOWN + 1))[0] in (403,)


def test_the_function_on_the_local_stack(stack):
    """The fifth function runs under functions-framework like the others: 401 without valid initData,
    the owner's pets with it, and its URL in stack.json."""
    import httpx

    from tests.miniapp_harness import signed_init_data

    base = stack["miniapp_api"].rstrip("/")
    assert stack["functions"]["miniapp_api"].rstrip("/") == base
    r = httpx.get(f"{base}/api/pets", headers={"Authorization": "tma user=1&hash=00"}, timeout=30)
    assert (r.status_code, r.json()) == (401, {"error": "unauthorized"})
    r = httpx.get(f"{base}/api/me", headers={"Authorization": "tma " + signed_init_data(7_500_000_001, stack["bot_token"])},
                  timeout=30)
    assert r.status_code == 200 and r.json()["registered"] is False and r.headers["Cache-Control"] == "no-store"
    page = httpx.get(f"{base}/", timeout=30)
    assert page.status_code in (200, 503)  # 503 until webapp/dist is built
