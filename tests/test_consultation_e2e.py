"""A paid video consultation end to end through the functions on the local stack (telegram_webhook,
photo_triage, booking_callbacks; the Firestore, Storage and Cloud Tasks emulators; the Bot API, Daily and
YooKassa doubles), played by its three people with infra/local/demo_consultation.py's steps: a vet applies,
an ops person approves in the ops chat, the vet publishes hours, the owner books from a photo check's
answer and pays, the stack's clock moves on to the reminders, the room and the links, both join, the vet
writes the conclusion, the owner sees it in the diary, rates it and asks a question the vet answers; then a
second booking is cancelled with its refund. Russian, paid in roubles (the default provider mode: YooKassa);
English, paid in Stars (a second webhook instance with PAYMENTS_MODE=stars); and the call on LiveKit
(VIDEO_PROVIDER=livekit: instances of booking_callbacks and the webhook wired to a LiveKit double). Asserted: what each person
was told (in their language and on their clock) and what is stored, down to the ledger, which
`python -m infra.ops payments reconcile` finds settled."""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from infra.local import demo_consultation as consultation
from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.livekit_double import LiveKitDouble
from infra.local.demo import PHOTOS, send_photo
from infra.local.owner_chat import OwnerChat
from infra.local.stack import (LIVEKIT_API_KEY, LIVEKIT_API_SECRET, function_url_var, livekit_env, move_clock,
                               ops_cli, stack_time)
from shared.domain.reminders import TIMEZONE_CHOICES
from shared.i18n import t
from tests.test_races import client, db  # noqa: F401 — the fixtures: the Bot API double's client, Firestore

pytestmark = pytest.mark.e2e

_IDS = itertools.count(760001, 100)


@dataclass(frozen=True)
class Flow:
    lang: str
    owner_zone: str | None        # None: never chosen (Moscow, inferred from Russian)
    vet: consultation.Application
    reason: str
    summary: str
    recommendations: str
    comment: str
    question: str
    answer: str
    stars: bool                   # paid in Stars (else roubles through YooKassa)


RU = Flow("ru", None, consultation.Application(
    full_name="Мария Лебедева", city="Екатеринбург", education="УрГАУ, 2015", experience="9",
    bio="Кожа и шерсть кошек и собак.", price="1500", timezone="Asia/Yekaterinburg"),
    reason="Пятна на боку, чешется", summary="Демодекоз, локальная форма.",
    recommendations="Лечебный шампунь 2 раза в неделю.", comment="Спасибо!", question="Можно гулять?",
    answer="Можно, как обычно.", stars=False)
EN = Flow("en", "Asia/Almaty", consultation.Application(
    full_name="Mary Swan", city="Moscow", education="MGAVM, 2012", experience="11", bio="Skin of cats and dogs.",
    price="1500", languages=("en", "ru"), timezone="Europe/Moscow"),
    reason="Red patches on his side, itchy", summary="Localised demodicosis.",
    recommendations="Medicated shampoo twice a week.", comment="Thank you!", question="May he swim?",
    answer="Not for two weeks.", stars=True)


def _seen(client: BotApiDoubleClient, chat_id: int, since: int) -> list[str]:
    """What the bot wrote to `chat_id` since `since` (messages, edits, captions) and its popups there."""
    out = []
    for c in client.calls(since=since):
        p = c["params"]
        if c["method"] in ("sendMessage", "editMessageText", "sendPhoto") and str(p.get("chat_id")) == str(chat_id):
            out.append(p.get("text") or p.get("caption") or "")
    return out


def _owner_with_a_dog(client, user_id: int, flow: Flow) -> OwnerChat:
    """A new owner: consent, a dog, maybe a time zone."""
    owner = OwnerChat(client, user_id, flow.lang, "Анна" if flow.lang == "ru" else "Anna")
    owner.send("/start")
    owner.press(data="consent:yes:")
    owner.press(data="pet:add")
    owner.press(data="f:species:dog")
    owner.send("Шарик" if flow.lang == "ru" else "Rex")
    owner.send("Дворняга" if flow.lang == "ru" else "Mixed")
    owner.press(data="f:sex:male")
    owner.send("3")
    owner.send("18")
    owner.press(data="f:neutered:no")
    if flow.owner_zone:
        owner.send("/timezone")
        owner.press(data=f"tz:{TIMEZONE_CHOICES.index(flow.owner_zone)}")
    return owner


def _owner_with_a_photo_check(client, user_id: int, flow: Flow) -> OwnerChat:
    """A new owner with a dog and a skin photo checked by photo_triage."""
    owner = _owner_with_a_dog(client, user_id, flow)
    send_photo(client, owner, (PHOTOS / "dog_skin.jpg").read_bytes(), "dog_skin.jpg",
               caption="Пятна на коже" if flow.lang == "ru" else "Spots on the skin")
    return owner


@pytest.fixture(autouse=True)
def real_clock_after(stack):
    """The functions' clock goes back to the real time after each flow, whatever happened in it."""
    yield
    move_clock(stack, None)


@pytest.fixture
def stars_webhook(stack, local_stack, client):
    """The Bot API double delivers to a Stars-mode instance of the webhook for the test's length."""
    url = local_stack.stack.start_function("telegram_webhook", "telegram_webhook_stars", {"PAYMENTS_MODE": "stars"})
    before = client.webhook()
    client.set_webhook(url, before["secret"])
    try:
        yield url
    finally:
        client.set_webhook(before["url"], before["secret"])


def _play(stack, client, db, flow: Flow) -> None:
    lang = flow.lang
    owner_id = next(_IDS)
    owner = _owner_with_a_photo_check(client, owner_id, flow)
    s = consultation.scene(stack, client, owner, vet_id=owner_id + 1, vet_name=flow.vet.full_name.split()[0],
                           vet_language=lang)
    vet, ops = s.vet, s.ops
    owner_tz, vet_tz = ZoneInfo(flow.owner_zone or "Europe/Moscow"), ZoneInfo(flow.vet.timezone)

    # ---- the vet applies, ops approve, the vet publishes hours --------------------------------------
    since = s.seq()
    assert consultation.apply(vet, flow.vet).texts(vet.user_id) == [t(lang, "vet.submitted")]
    notice = next(x for x in _seen(client, ops.chat_id, since) if f"#{vet.user_id}" in x)
    assert flow.vet.full_name in notice and "1500 ₽" in notice          # the ops chat reads Russian
    since = s.seq()
    approved = consultation.approve(ops, vet.user_id)
    assert [c["params"]["text"] for c in approved.calls if c["method"] == "answerCallbackQuery"] == ["Одобрено."]
    assert _seen(client, vet.user_id, since) == [t(lang, "vet.approved")]
    day = datetime.now(vet_tz).date() + timedelta(days=2)
    assert t(lang, "vet.sched.published") in consultation.publish_hours(vet, day, "10:00-14:00").text
    assert db.document(f"vets/{vet.user_id}").get().get("status") == "active"

    # ---- the owner books from the photo check's answer and pays ---------------------------------------
    owner.press(data="tr:b:")
    start = consultation.free_start(day, "10:00", flow.vet.timezone)
    consultation.book(s, vet.user_id, start, flow.reason, flow.owner_zone or "Europe/Moscow")
    invoice = consultation.newest_invoice(owner)
    assert (invoice["currency"], invoice["total_amount"]) == (("XTR", 750) if flow.stars else ("RUB", 150000))
    first = s.booking_id
    since = s.seq()
    _, paid = consultation.pay(s)
    assert paid["ok"], paid
    told = _seen(client, owner.user_id, since)
    assert len(told) == 1 and told[0].startswith(t(lang, "booking.confirmed"))
    assert f"{start.astimezone(owner_tz):%H:%M}" in told[0] and flow.reason in told[0]
    new = _seen(client, vet.user_id, since)
    assert len(new) == 1 and f"{start.astimezone(vet_tz):%H:%M}" in new[0] and flow.reason in new[0]
    booking = db.document(f"bookings/{first}").get().to_dict()
    assert (booking["status"], booking["charge_id"]) == ("confirmed", paid["charge_id"])
    assert booking["triage"]["area"] == "skin"                        # the photo check went with the booking

    # ---- the reminders, the room, the links, the call --------------------------------------------------
    since = s.seq()
    assert "remind_24h" in consultation.tasks_until(s, start - timedelta(hours=24))
    consultation.tasks_until(s, start - timedelta(minutes=10))
    owner_seen, vet_seen = _seen(client, owner.user_id, since), _seen(client, vet.user_id, since)
    pet = "Шарик" if lang == "ru" else "Rex"
    for seen, tz, who in ((owner_seen, owner_tz, "owner"), (vet_seen, vet_tz, "vet")):
        local = start.astimezone(tz)
        fields = dict(pet=pet, vet=flow.vet.full_name, date=f"{local:%d.%m.%Y}", time=f"{local:%H:%M}", zone=tz.key)
        assert seen == [t(lang, f"consult.remind.{who}", when=t(lang, "consult.when.day"), **fields),
                        t(lang, f"consult.remind.{who}", when=t(lang, "consult.when.soon"), **fields),
                        t(lang, f"consult.link.{who}", **fields)]
    assert consultation.join_link(owner) != consultation.join_link(vet)
    for who, minutes in ((owner, 1), (vet, 2)):
        assert consultation.join(s, who, start + timedelta(minutes=minutes))["status"] == 200
    assert consultation.tasks_until(s, start + timedelta(minutes=10)) == ["no_show_check"]
    consultation.leave_all(s, start + timedelta(minutes=27))
    assert consultation.tasks_until(s, start + timedelta(minutes=30)) == ["end_room"]
    assert db.document(f"consultations/{first}").get().get("room")["name"] == f"tp-{first}"
    events = [e.to_dict() for e in db.collection(f"consultations/{first}/video_events").stream()]
    assert {e["role"] for e in events if e["kind"] == "joined"} == {"owner", "vet"}
    assert db.document(f"bookings/{first}").get().get("status") == "confirmed"   # both came: no no-show

    # ---- after the call: the conclusion, the diary, stars, a question and its answer --------------------
    s.stack.move_clock(start + timedelta(minutes=35))     # (real_clock_after moves it back, whatever happens)
    sent = consultation.conclude(s, flow.summary, flow.recommendations, follow_up_days=14, verdict="r")
    closes = start + timedelta(minutes=30 + 48 * 60)                 # messages until 48 h after the end
    assert sent.texts(vet.user_id) == [t(lang, "conclusion.sent", pet=pet,
                                         until=f"{closes.astimezone(vet_tz):%d.%m.%Y %H:%M}")]
    conclusion = consultation.conclusion_message(s)
    assert conclusion["text"].startswith(t(lang, "conclusion.owner.title", vet=flow.vet.full_name, pet=pet,
                                               date=f"{start.astimezone(owner_tz):%d.%m.%Y}"))
    assert flow.summary in conclusion["text"] and flow.recommendations in conclusion["text"]
    assert db.document(f"bookings/{first}").get().get("status") == "completed"
    assert db.document(f"conclusions/{first}").get().get("summary") == flow.summary
    rated = consultation.rate(s, 5, flow.comment, keep_label=True)
    assert t(lang, "conclusion.commented") in rated.text
    vet_doc = db.document(f"vets/{vet.user_id}").get().to_dict()
    assert (vet_doc["rating_sum"], vet_doc["rating_count"]) == (5, 1)
    asked = owner.reply(flow.question, to=consultation.conclusion_message(s))
    [relayed] = [c["params"] for c in asked.calls if c["method"] == "sendMessage"
                 and str(c["params"]["chat_id"]) == str(vet.user_id)]
    assert flow.question in relayed["text"] and flow.vet.full_name not in relayed["text"]
    assert relayed["reply_markup"]["inline_keyboard"][0][0]["text"] == t(lang, "conclusion.btn.message_owner")
    answered = vet.reply(flow.answer, to=consultation.relayed(vet, first))
    assert any(flow.answer in x and flow.vet.full_name in x for x in answered.texts(owner.user_id))
    diary = owner.send("/diary").text
    assert flow.summary in diary and flow.vet.full_name in diary
    pets = list(db.collection(f"users/{owner.user_id}/pets").stream())
    assert db.document(f"users/{owner.user_id}/pets/{pets[0].id}/consultations/{first}").get().exists
    s.stack.move_clock(None)

    # ---- a second booking, cancelled more than 24 h ahead: all of it back ------------------------------
    owner.send("/consult")
    consultation.book(s, vet.user_id, start + timedelta(days=7), flow.reason, flow.owner_zone or "Europe/Moscow")
    _, second_paid = consultation.pay(s)
    since = s.seq()
    cancelled = consultation.cancel(s)
    amount = "750 ⭐" if flow.stars else "1\u00a0500 ₽"
    assert t(lang, "bk.refund.made", amount=amount) in cancelled.text
    assert _seen(client, vet.user_id, since)[0].startswith(t(lang, "bk.vet.cancelled_by_owner", when="")[:15])
    assert db.document(f"bookings/{s.booking_id}").get().get("status") == "cancelled"
    ledger = db.document(f"payments/{second_paid['charge_id']}").get().to_dict()
    assert (ledger["status"], sum(r["amount"] for r in ledger["refunds"])) == ("refunded", ledger["amount"])
    if flow.stars:
        charge = next(c for c in client.charges() if c["charge_id"] == second_paid["charge_id"])
        assert charge["refunded"]
    else:
        [refund] = s.stack.yookassa.refunds(second_paid["provider_payment_charge_id"])
        assert (refund["status"], refund["amount"]["value"]) == ("succeeded", "1500.00")
    first_ledger = db.document(f"payments/{paid['charge_id']}").get().to_dict()
    assert (first_ledger["status"], first_ledger["amount"], first_ledger["fee"] + first_ledger["vet_share"],
            first_ledger["refunds"]) == ("confirmed", invoice["total_amount"], invoice["total_amount"], [])
    assert ops_cli(stack, "payments", "reconcile") == (0, ["every charge ended with a confirmed booking or a refund"])


def test_in_russian_paid_through_yookassa(stack, clean_firestore, client, db):
    _play(stack, client, db, RU)


def test_in_english_paid_in_stars(stack, clean_firestore, client, db, stars_webhook):
    _play(stack, client, db, EN)


@pytest.fixture
def livekit(stack, local_stack, client):
    """VIDEO_PROVIDER=livekit beside the session's Daily stack: a LiveKit double on the functions' clock, an
    instance of booking_callbacks that uses it (its signed webhooks go there) and of the webhook whose tasks
    target that instance; the Bot API double delivers to that webhook for the test's length. The double."""
    lk = LiveKitDouble(LIVEKIT_API_KEY, LIVEKIT_API_SECRET, clock=lambda: stack_time(stack)).start()
    try:
        settings = livekit_env(lk.url)
        callbacks = local_stack.stack.start_function("booking_callbacks", f"booking_callbacks_lk{lk.port}", settings)
        lk.webhook_url = f"{callbacks}webhooks/video"
        webhook = local_stack.stack.start_function(
            "telegram_webhook", f"telegram_webhook_lk{lk.port}",
            {**settings, function_url_var("booking_callbacks"): callbacks})
        # its first request builds the instance (a cold start of a few seconds, longer than the Bot API
        # double's 10 s delivery timeout on a loaded machine: an owner's /start then timed out); a request
        # without the secret builds it and is refused
        assert httpx.post(webhook, content=b"{}", timeout=120).status_code == 403
        before = client.webhook()
        client.set_webhook(webhook, before["secret"])
        try:
            yield lk
        finally:
            client.set_webhook(before["url"], before["secret"])
    finally:
        lk.stop()


def test_the_call_on_livekit(stack, clean_firestore, client, db, livekit):
    """The video part with LiveKit: the room made by the T-15 task, each person's join page link with their
    own token, both joins as LiveKit's signed webhooks recorded by booking_callbacks, so the no-show check
    refunds nothing; the room deleted at the end (room_finished accepted), the booking still confirmed."""
    owner_id = next(_IDS)
    owner = _owner_with_a_dog(client, owner_id, RU)
    s = consultation.scene(stack, client, owner, vet_id=owner_id + 1, vet_name="Мария", video=livekit)
    vet = s.vet
    form = dataclasses.replace(RU.vet, timezone="Asia/Novosibirsk")
    consultation.apply(vet, form)
    consultation.approve(s.ops, vet.user_id)
    day = datetime.now(ZoneInfo(form.timezone)).date() + timedelta(days=2)
    consultation.publish_hours(vet, day, "10:00-14:00")
    owner.send("/consult")
    start = consultation.free_start(day, "10:00", form.timezone)
    consultation.book(s, vet.user_id, start, RU.reason, "Europe/Moscow")
    _, paid = consultation.pay(s)
    assert paid["ok"], paid
    room = f"tp-{s.booking_id}"

    assert "create_room" not in consultation.tasks_until(s, start - timedelta(minutes=16)) and room not in livekit.rooms
    assert consultation.tasks_until(s, start - timedelta(minutes=15)) == ["remind_15m", "create_room"]
    assert livekit.rooms[room].max_participants == 2
    assert consultation.tasks_until(s, start - timedelta(minutes=10)) == ["send_links"]
    links = {who: consultation.join_link(chat) for who, chat in (("owner", owner), ("vet", vet))}
    assert all(link.startswith(f"{livekit.url}/join?token=") for link in links.values())
    assert links["owner"] != links["vet"]
    for chat, minutes in ((owner, 1), (vet, 2)):
        delivery = consultation.join(s, chat, start + timedelta(minutes=minutes))
        assert (delivery["event"].event, delivery["status"]) == ("participant_joined", 200)
    assert sorted(p.identity for p in livekit.participants[room].values()) == ["owner", "vet"]
    events = [e.to_dict() for e in db.collection(f"consultations/{s.booking_id}/video_events").stream()]
    assert sorted(e["role"] for e in events if e["kind"] == "joined") == ["owner", "vet"]

    since = s.seq()
    assert consultation.tasks_until(s, start + timedelta(minutes=10)) == ["no_show_check"]
    assert _seen(client, owner.user_id, since) == [] and s.stack.yookassa.refunds(paid["provider_payment_charge_id"]) == []
    consultation.leave_all(s, start + timedelta(minutes=27))
    assert consultation.tasks_until(s, start + timedelta(minutes=30)) == ["end_room"]
    assert room not in livekit.rooms
    ends = [d for d in livekit.webhooks_sent if d["event"].event in ("participant_left", "room_finished")]
    assert [(d["event"].event, d["status"]) for d in ends] == [("participant_left", 200)] * 2 + [("room_finished", 200)]
    assert db.document(f"bookings/{s.booking_id}").get().get("status") == "confirmed"
