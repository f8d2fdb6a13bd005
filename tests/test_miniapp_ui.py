"""The Mini App in a real headless browser (Debian's chromium driven by Playwright) against the local stack:
the miniapp_api function serves the built webapp/dist and its API; a window.Telegram.WebApp stand-in carries
initData signed here with the stack's bot token (infra/local/miniapp_browser.py).

Flows: add a pet (the server's 400 shown under its field, then saved); log a weight and see the point on the
chart; book, pay (the stand-in's openInvoice has the Bot API double play Telegram's payment form) and see it
confirmed, then cancel it with the refund shown. Then every screen in light and dark, Russian and English:
screenshots under .local/miniapp/ and an axe-core pass with no serious or critical violations.
"""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import json
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from google.cloud import firestore
from playwright.sync_api import expect, sync_playwright

from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.miniapp_browser import VIEWPORT, init_data, launch, open_context, press_back, press_main, tg_log
from infra.local.owner_chat import OwnerChat
from infra.local.stack import clear_firestore, ops_cli
from shared.i18n import t

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / ".local" / "miniapp"
AXE = ROOT / "webapp" / "node_modules" / "axe-core" / "axe.min.js"
DEMO_VET = "910000001"            # infra/local/demo_vets.py: Анна Соколова, cats and dogs, 1 500 ₽
_IDS = itertools.count(8_100_000_001 + (datetime.now().microsecond * 1000) % 10**6)

pytestmark = pytest.mark.e2e


# ---- the world -------------------------------------------------------------------------------------------
def _build_is_current() -> bool:
    dist = ROOT / "webapp" / "dist" / "index.html"
    if not dist.exists():
        return False
    sources = [p for p in (ROOT / "webapp" / "src").rglob("*") if p.is_file()]
    sources += [ROOT / "webapp" / "index.html", *(ROOT / "shared" / "i18n" / "locales").rglob("webapp.po")]
    return dist.stat().st_mtime >= max(p.stat().st_mtime for p in sources)


@pytest.fixture(scope="module")
def built():
    """webapp/dist as infra/setup.sh builds it (rebuilt here when a source is newer than the build)."""
    if not _build_is_current():
        subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-m", "infra.webapp_i18n"], cwd=ROOT, check=True)
        subprocess.run(["npm", "run", "build", "--silent"], cwd=ROOT / "webapp", check=True, capture_output=True)
    assert _build_is_current()


@pytest.fixture(scope="module")
def world(stack, built, local_stack):
    """An empty Firestore with the demo vets (their weekday hours make the next 14 days bookable)."""
    clear_firestore(stack["firestore_emulator_host"], stack["project"])
    code, lines = ops_cli(stack, "vets", "demo", "--as", str(stack["ops_user_ids"]).split(",")[0])
    assert code == 0, lines
    with BotApiDoubleClient(stack["telegram_api_base"]) as client:
        yield {"stack": stack, "client": client, "db": firestore.Client(project=stack["project"]),
               "local_stack": local_stack}


@pytest.fixture(scope="module")
def playwright():
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = launch(playwright)
    yield b
    b.close()


def _owner(world, lang: str = "ru", uid: int | None = None) -> int:
    """A new owner (or a vet, `uid`) who pressed Start and agreed to the terms in the bot."""
    uid = uid or next(_IDS)
    chat = OwnerChat(world["client"], uid, lang, "Анна" if lang == "ru" else "Anna")
    chat.send("/start")
    chat.press(data="consent:yes:")
    return uid


def _api(world, uid: int, method: str, path: str, body=None, lang: str = "ru"):
    """The Mini App API as the app calls it (for the state a test starts from)."""
    base = world["stack"]["miniapp_api"].rstrip("/")
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "tma " + init_data(uid, world["stack"]["bot_token"],
                                                                             language=lang),
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {path}: {exc.code} {exc.read().decode()}") from None


def _pet(world, uid: int, lang: str = "ru", **fields) -> dict:
    body = {"species": "dog", "name": "Шарик" if lang == "ru" else "Rex", "breed": "Бигль" if lang == "ru" else "Beagle",
            "sex": "male", "birth_date": "3", "weight_kg": 12.5, "neutered": "no", **fields}
    body = {k: v for k, v in body.items() if v is not None}
    return _api(world, uid, "POST", "/api/pets", body, lang)["pet"]


RU_MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
             "ноября", "декабря")


def _ru_date(iso: str) -> str:
    y, m, d = map(int, iso.split("-"))
    return f"{d} {RU_MONTHS[m - 1]} {y} г."


def _payer(world, uid: int, lang: str):
    """openInvoice's answer: the Bot API double plays Telegram's payment form (the pre-checkout query to the
    webhook, then the successful payment), the provider's payment made in YooKassa's double first."""
    def pay(url: str) -> str:
        client = world["client"]
        invoice = client.invoice(url)
        payment = world["yookassa"].create_payment(invoice["total_amount"], invoice["currency"])["id"]
        paid = client.pay(url, uid, provider_payment_charge_id=payment, language_code=lang)
        world.setdefault("paid", []).append(paid)
        return "paid" if paid["ok"] else "failed"
    return pay


@pytest.fixture(scope="module")
def yookassa(world, local_stack):
    world["yookassa"] = local_stack.stack.yookassa
    return world["yookassa"]


@contextlib.contextmanager
def _app(browser, world, uid: int, path: str = "/", *, lang: str = "ru", scheme: str = "light", pay=None,
         clock: datetime | None = None, routes: dict | None = None):
    """A page of the app opened as `uid` in a new (cold) context; on a failure its screenshot, text and
    console go to .local/miniapp/failures/. `clock`: the page's clock starts there (Playwright's clock: the
    stack's moved time); `routes`: {url glob: handler} for hosts outside the stack."""
    context = open_context(browser, init_data(uid, world["stack"]["bot_token"], language=lang),
                           scheme=scheme, language=lang, pay=pay)
    for pattern, handler in (routes or {}).items():
        context.route(pattern, handler)
    if clock is not None:
        context.clock.install(time=clock)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    try:
        page.goto(world["stack"]["miniapp_api"].rstrip("/") + path)
        yield page
    except BaseException:
        out = SHOTS / "failures"
        out.mkdir(parents=True, exist_ok=True)
        name = os.environ.get("PYTEST_CURRENT_TEST", "test").split("::")[-1].split(" ")[0]
        page.screenshot(path=str(out / f"{name}.png"), full_page=True)
        (out / f"{name}.txt").write_text(page.inner_text("body") + "\n---\n" + "\n".join(console), encoding="utf-8")
        raise
    finally:
        context.close()


def _main(page, text: str | None) -> None:
    """Presses Telegram's main button once it shows (`text`, when given) - as a person waits for it."""
    button = page.locator("#tg-main-button")
    expect(button).to_be_visible()
    if text is not None:
        expect(button).to_have_text(text)
    press_main(page)


# ---- flows -----------------------------------------------------------------------------------------------
def test_add_a_pet_with_the_servers_field_error_then_saved(browser, world):
    uid = _owner(world)
    with _app(browser, world, uid) as page:
        expect(page.get_by_role("heading", name=t("ru", "webapp.pets.title"))).to_be_visible()
        expect(page.get_by_text(t("ru", "webapp.pets.empty"))).to_be_visible()
        log = tg_log(page)
        assert (log["ready"], log["expand"], log["back"]["visible"]) == (1, 1, False)
        assert log["main"] == {"text": t("ru", "webapp.pets.add"), "visible": True, "active": True, "progress": False}
        page.locator("#tg-main-button").click()
        expect(page.get_by_role("heading", name=t("ru", "webapp.form.add_title"))).to_be_visible()
        assert tg_log(page)["back"]["visible"]

        page.get_by_role("radio", name=t("ru", "species.cat")).check()
        page.get_by_label(t("ru", "field.name")).fill("Мурка")
        page.get_by_role("radio", name=t("ru", "sex.female")).check()
        page.get_by_label(t("ru", "webapp.form.age")).fill("3 года")
        page.get_by_label(t("ru", "webapp.form.weight")).fill("45")          # no cat weighs 45 kg
        press_main(page)
        error = page.locator("#weight_kg-error")
        expect(error).to_have_text(t("ru", "err.weight_out_of_range", low=0.05, high=20.0))
        expect(page.get_by_label(t("ru", "webapp.form.weight"))).to_have_attribute("aria-invalid", "true")
        assert tg_log(page)["haptics"][-1] == "error"
        assert not list(world["db"].collection(f"users/{uid}/pets").stream())   # nothing written

        page.get_by_label(t("ru", "webapp.form.weight")).fill("4,2")
        press_main(page)
        expect(page.get_by_role("heading", name="Мурка")).to_be_visible()
        assert tg_log(page)["haptics"][-1] == "success"
        [pet] = [d.to_dict() for d in world["db"].collection(f"users/{uid}/pets").stream()]
        assert (pet["name"], pet["species"], pet["sex"], pet["weight_kg"]) == ("Мурка", "cat", "female", 4.2)
        assert pet["birth_date"] and pet.get("birth_date_approximate") is True

        press_back(page)                       # replaced the form: back goes to the list, which shows her
        expect(page.get_by_role("link", name="Мурка")).to_be_visible()
        assert "4,2" in page.get_by_role("link", name="Мурка").inner_text()


def test_log_a_weight_and_see_it_on_the_chart(browser, world):
    uid = _owner(world)
    pet = _pet(world, uid)
    with _app(browser, world, uid) as page:
        page.get_by_role("link", name=pet["name"]).click()
        expect(page.get_by_role("heading", name=pet["name"])).to_be_visible()
        expect(page.get_by_text(t("ru", "webapp.weight.empty"))).to_be_visible()   # the card's weight is no weighing
        page.get_by_label(t("ru", "webapp.weight.log")).fill("13,1")
        page.get_by_role("button", name=t("ru", "webapp.save")).click()
        chart = page.locator(".chart-svg")
        expect(chart).to_have_attribute("data-points", "1")
        assert tg_log(page)["haptics"][-1] == "success"
        today = _api(world, uid, "GET", f"/api/pets/{pet['id']}/weights")["weights"][-1]["date"]
        point = page.locator('.point[data-kg="13.1"]')
        expect(point).to_have_attribute("data-date", today)
        point.click()
        expect(point).to_have_attribute("aria-pressed", "true")
        readout = page.get_by_test_id("chart-readout")
        expect(readout).to_have_text(t("ru", "webapp.weight.point", date=_ru_date(today), kg="13,1"))
        expect(page.locator(".tip-kg")).to_have_text("13,1 кг")
        expect(page.get_by_role("heading", name=pet["name"])).to_be_visible()
        expect(page.locator(".details")).to_contain_text("13,1 кг")              # the card follows the diary
        assert [w["kg"] for w in _api(world, uid, "GET", f"/api/pets/{pet['id']}/weights")["weights"]][-1] == 13.1


def test_book_pay_and_cancel(browser, world, yookassa):
    uid = _owner(world)
    pet = _pet(world, uid)
    with _app(browser, world, uid, pay=_payer(world, uid, "ru")) as page:
        page.get_by_role("link", name=pet["name"]).click()
        expect(page.locator("#tg-main-button")).to_have_text(t("ru", "webapp.pet.find_vet"))
        press_main(page)
        vet = page.locator(f'[data-vet="{DEMO_VET}"]')
        expect(vet).to_contain_text("Анна Соколова")
        expect(vet).to_contain_text("1500 ₽".replace("1500", "1\u00a0500"))
        vet.click()
        expect(page.get_by_role("heading", name=t("ru", "webapp.calendar.title"))).to_be_visible()
        days = page.locator(".day:not([disabled])")
        expect(days.first).to_be_visible()
        assert page.locator(".day").count() >= 14
        days.nth(2).click()                  # two weekdays ahead at least: cancelled > 24 h before, all comes back
        slot = page.locator(".slot").first
        start = slot.get_attribute("data-start")
        slot.click()
        assert slot.get_attribute("aria-checked") == "true"
        press_main(page)
        expect(page.get_by_role("heading", name=t("ru", "webapp.checkout.title"))).to_be_visible()
        page.get_by_label(t("ru", "webapp.checkout.reason")).fill("Чешет ухо")
        expect(page.locator("#tg-main-button")).to_have_text(t("ru", "webapp.checkout.pay", price="1\u00a0500 ₽"))
        press_main(page)
        expect(page.get_by_test_id("confirmed")).to_be_visible(timeout=30_000)
        log = tg_log(page)
        assert len(log["invoices"]) == 1 and log["invoices"][0].startswith("https://t.me/$")
        assert log["invoiceStatuses"] == ["paid"] and "success" in log["haptics"]
        [booking] = [d for d in world["db"].collection("bookings").stream() if d.to_dict().get("owner_id") == uid]
        b = booking.to_dict()
        assert b["status"] == "confirmed" and b["reason"] == "Чешет ухо" and b["vet_id"] == int(DEMO_VET)
        assert b["start"] == datetime.fromisoformat(start.replace("Z", "+00:00"))
        assert world["paid"][-1]["ok"]

        press_main(page)                                   # "My bookings"
        card = page.locator(f'[data-booking="{booking.id}"]')
        expect(card).to_contain_text(pet["name"])
        card.get_by_role("button", name=t("ru", "webapp.bookings.cancel")).click()
        expect(card.get_by_test_id("refund-terms")).to_have_text(
            t("ru", "webapp.bookings.refund", amount="1\u00a0500 ₽"))
        card.get_by_role("button", name=t("ru", "webapp.bookings.cancel_confirm")).click()
        expect(page.get_by_test_id("cancelled")).to_have_text(
            t("ru", "webapp.bookings.cancelled_refund", amount="1\u00a0500 ₽"))
        expect(card).to_have_count(0)
        assert world["db"].document(f"bookings/{booking.id}").get().get("status") == "cancelled"
        [refund] = yookassa.refunds(world["paid"][-1]["provider_payment_charge_id"])
        assert (refund["status"], refund["amount"]["value"]) == ("succeeded", "1500.00")


def test_a_hold_superseded_from_another_screen_says_so_not_taken(browser, world):
    """The API's 409 'superseded' (a newer hold of the owner's, made at the same moment from another screen,
    stands: tests/test_consult_races.py) is shown as the server words it; the time is not called taken."""
    uid = _owner(world)
    pet = _pet(world, uid)
    said = t("ru", "booking.err.other_time_held")

    def superseded(route):
        if route.request.method != "POST":
            return route.continue_()
        return route.fulfill(status=409, content_type="application/json", body=json.dumps(
            {"error": "superseded", "key": "booking.err.other_time_held", "message": said}))

    with _app(browser, world, uid, routes={"**/api/bookings": superseded}) as page:
        page.get_by_role("link", name=pet["name"]).click()
        expect(page.locator("#tg-main-button")).to_have_text(t("ru", "webapp.pet.find_vet"))
        press_main(page)
        page.locator(f'[data-vet="{DEMO_VET}"]').click()
        expect(page.get_by_role("heading", name=t("ru", "webapp.calendar.title"))).to_be_visible()
        page.locator(".day:not([disabled])").nth(2).click()
        page.locator(".slot").first.click()
        press_main(page)
        expect(page.get_by_role("heading", name=t("ru", "webapp.checkout.title"))).to_be_visible()
        page.get_by_label(t("ru", "webapp.checkout.reason")).fill("Чешет ухо")
        pay = t("ru", "webapp.checkout.pay", price="1\u00a0500 ₽")
        expect(page.locator("#tg-main-button")).to_have_text(pay)
        press_main(page)
        expect(page.get_by_role("alert")).to_have_text(said)
        expect(page.get_by_text(t("ru", "webapp.checkout.taken"))).to_have_count(0)
        expect(page.locator("#tg-main-button")).to_have_text(pay)


def _reptile_vets(world, count: int) -> list[int]:
    """`count` bookable vets of reptiles alone (with the demo's exotics vet, a list of two pages)."""
    from shared.adapters.firestore_repositories import OpStats
    from shared.adapters.firestore_vets import FirestoreVets
    from tests.booking_harness import vet

    ids = [8_300_000_000 + n for n in range(count)]

    async def create() -> None:
        client = firestore.AsyncClient(project=world["stack"]["project"])
        vets = FirestoreVets(client, OpStats())
        for vet_id in ids:
            await vets.create(vet(vet_id, species=("reptile",), name=f"Герпетолог {vet_id % 100}"))
        client.close()

    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API runs its event loop in this one
        thread.submit(asyncio.run, create()).result()
    return ids


def test_the_vets_next_page_is_asked_past_the_vets_shown_and_kept_when_coming_back(browser, world):
    uid = _owner(world)
    pet = _pet(world, uid, species="reptile", name="Гоша", breed=None, weight_kg=None)
    everyone = {str(i) for i in [*_reptile_vets(world, 6), EXOTICS_VET]}
    asked: list[dict] = []

    def record(route) -> None:
        asked.append(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(route.request.url).query)))
        route.continue_()

    with _app(browser, world, uid, f"/pets/{pet['id']}/vets", routes={re.compile(r"/api/pets/[^/?]+/vets\?"): record}) \
            as page:
        rows = page.locator("[data-vet]")

        def listed(count: int) -> list[str]:
            expect(rows).to_have_count(count)
            return [row.get_attribute("data-vet") for row in rows.all()]

        first = listed(5)
        page.get_by_role("button", name=t("ru", "webapp.next")).click()
        second = listed(2)
        assert set(first) | set(second) == everyone and not set(first) & set(second)
        page.get_by_role("button", name=t("ru", "webapp.prev")).click()
        assert listed(5) == first
        page.get_by_role("button", name=t("ru", "webapp.next")).click()
        assert listed(2) == second
        rows.first.click()                                        # a vet's calendar, then Telegram's back button:
        expect(page.get_by_role("heading", name=t("ru", "webapp.vets.title"))).not_to_be_visible()
        press_back(page)
        assert listed(2) == second                                # the page left, not the first again
        expect(page.get_by_text(t("ru", "webapp.page", n=2, of=2))).to_be_visible()
    shown = ",".join(first)
    assert asked == [{"page": "0"}, {"page": "1", "shown": shown}, {"page": "0"}, {"page": "1", "shown": shown},
                     {"page": "1", "shown": shown}]


# ---- the owner's extras -----------------------------------------------------------------------------------
DEMO_PHOTO = ROOT / "infra" / "local" / "demo_photos" / "dog_skin.jpg"


def test_reschedule_once(browser, world, yookassa):
    """A confirmed booking days ahead moved to another free time of the same vet; then it cannot be moved again."""
    uid = _owner(world)
    pet = _pet(world, uid)
    booking = _confirmed_booking(world, uid, pet, day=5)
    assert booking["can_reschedule"]
    with _app(browser, world, uid, "/bookings") as page:
        card = page.locator(f'[data-booking="{booking["id"]}"]')
        card.get_by_role("button", name=t("ru", "webapp.bookings.reschedule")).click()
        expect(page.get_by_role("heading", name=t("ru", "webapp.bookings.reschedule_title"))).to_be_visible()
        page.locator(".day:not([disabled])").nth(3).click()
        slot = page.locator(".slot").last
        start = slot.get_attribute("data-start")
        assert start != booking["start"]
        slot.click()
        _main(page, None)
        expect(page.get_by_test_id("rescheduled")).to_be_visible()
        assert tg_log(page)["haptics"][-1] == "success"
        moved = _api(world, uid, "GET", f"/api/bookings/{booking['id']}")["booking"]
        assert (moved["start"], moved["status"], moved["can_reschedule"]) == (start, "confirmed", False)
        _main(page, t("ru", "webapp.bookings.title"))
        expect(card).to_be_visible()
        expect(card.get_by_role("button", name=t("ru", "webapp.bookings.reschedule"))).to_have_count(0)   # once


def test_photo_check_shows_the_chats_answer(browser, world):
    """A photo picked in the app goes through the bot's intake and triage; the page polls and shows the answer
    the chat gets, and offers to book a vet."""
    uid = _owner(world)
    pet = _pet(world, uid)
    with _app(browser, world, uid, f"/pets/{pet['id']}") as page:
        page.get_by_role("link", name=t("ru", "triage.btn.check")).click()
        page.get_by_role("radio", name=t("ru", "triage.area.skin")).check()
        page.locator("#photo-input").set_input_files(str(DEMO_PHOTO))
        result = page.get_by_test_id("triage-result")
        expect(result).to_be_visible(timeout=90_000)
        text = result.inner_text()
        assert text.strip()
        told = [m.get("text") or m.get("caption") or "" for m in world["client"].messages(uid)]
        assert any(text.strip() in said for said in told), told[-3:]          # the same answer as in the chat
        expect(page.locator("#tg-main-button")).to_have_text(t("ru", "triage.btn.book"))
        press_main(page)
        expect(page.locator(f'[data-vet="{DEMO_VET}"]')).to_be_visible()


def test_week_pdf_food_and_activity(browser, world):
    """The pet card's week in the chat's words and its PDF for the clinic; a meal against the daily need and
    the day's activity logged, both in the week afterwards; a vaccination (refused without a product) with the
    next date the species' interval proposes, in the pet card's treatments."""
    uid = _owner(world)
    pet = _pet(world, uid)
    _seed_weights(world, uid, pet["id"], [12.2])
    with _app(browser, world, uid, f"/pets/{pet['id']}") as page:
        week = page.get_by_test_id("week")
        expect(week).to_contain_text(t("ru", "diary.week_no_activity"))
        with page.expect_download() as got:
            page.get_by_test_id("pdf").click()
        pdf = Path(got.value.path()).read_bytes()
        assert pdf.startswith(b"%PDF") and got.value.suggested_filename == f"{pet['name']}.pdf"

        page.get_by_role("link", name=t("ru", "diary.btn.food")).click()
        expect(page.get_by_text(t("ru", "webapp.food.none"))).to_be_visible()
        page.get_by_label(t("ru", "webapp.food.grams")).fill("120")
        _main(page, t("ru", "webapp.food.add"))
        expect(page.locator(".list .row")).to_have_count(1)
        meals = _api(world, uid, "GET", f"/api/pets/{pet['id']}/meals")
        assert [m["grams"] for m in meals["meals"]] == [120] and meals["total_kcal"] > 0
        expect(page.get_by_test_id("food-total")).to_contain_text(str(round(meals["total_kcal"])))
        press_back(page)

        page.get_by_role("link", name=t("ru", "diary.btn.activity")).click()
        page.get_by_label(t("ru", "webapp.activity.minutes")).fill("45")
        page.get_by_role("group", name=t("ru", "webapp.activity.mood")).get_by_role("radio", name="4").check()
        page.get_by_role("group", name=t("ru", "webapp.activity.appetite")).get_by_role("radio", name="5").check()
        _main(page, t("ru", "webapp.save"))
        expect(page.get_by_test_id("activity-saved")).to_be_visible()
        press_back(page)
        expect(week).to_contain_text(t("ru", "webapp.week.activity", minutes=45))
        expect(week).to_contain_text(t("ru", "diary.week_mood", mood="4"))

        page.get_by_role("link", name=t("ru", "diary.btn.add_treatment")).click()
        page.get_by_role("radio", name=t("ru", "diary.kind.vaccine")).check()
        _main(page, t("ru", "webapp.save"))                               # no product: the bot's refusal
        expect(page.locator("#product-error")).to_be_visible()
        page.get_by_label(t("ru", "webapp.treatments.product")).fill("Нобивак Rabies")
        _main(page, t("ru", "webapp.save"))
        expect(page.get_by_test_id("treatment-saved")).to_contain_text("Нобивак Rabies")
        [given] = _api(world, uid, "GET", f"/api/pets/{pet['id']}/treatments")["treatments"]
        assert given["product"] == "Нобивак Rabies" and given["next_due"]      # the species' usual interval
        press_back(page)
        expect(page.locator("#treatments-title ~ .section-body")).to_contain_text("Нобивак Rabies")
    summary = _api(world, uid, "GET", f"/api/pets/{pet['id']}/week")
    assert (summary["minutes"], summary["mood"], summary["appetite"]) == (45, 4, 5) and summary["kcal_per_day"]


# ---- the video room -----------------------------------------------------------------------------------------
FAKE_MEDIA = "--use-fake-device-for-media-stream"     # Chromium's fake camera and microphone
FAKE_UI = "--use-fake-ui-for-media-stream"            # ... and its permission prompt answered "allow"


def _confirmed_booking(world, uid: int, pet: dict, day: int = 2, vet: str = DEMO_VET) -> dict:
    """A demo vet's slot `day` bookable days ahead, held, its invoice paid through the Bot API double
    (YooKassa's double holding the payment): the confirmed booking."""
    calendar = _api(world, uid, "GET", f"/api/vets/{vet}/calendar?pet={pet['id']}&days=14")
    slot = calendar["days"][day]["slots"][0]
    booking = _api(world, uid, "POST", "/api/bookings",
                   {"pet": pet["id"], "vet": calendar["vet"]["id"], "start": slot["start"], "reason": "Кашляет"})["booking"]
    link = _api(world, uid, "POST", f"/api/bookings/{booking['id']}/invoice")["invoice_link"]
    assert _payer(world, uid, "ru")(link) == "paid"
    booking = _api(world, uid, "GET", f"/api/bookings/{booking['id']}")["booking"]
    assert booking["status"] == "confirmed"
    return booking


@contextlib.contextmanager
def _in_room_time(world, booking: dict):
    """The stack's clock (the functions') at 5 minutes before the booking's start, the room open; back after."""
    start = datetime.fromisoformat(booking["start"].replace("Z", "+00:00"))
    world["local_stack"].stack.move_clock(start - timedelta(minutes=5))
    try:
        yield start - timedelta(minutes=5)
    finally:
        world["local_stack"].stack.move_clock(None)


def _daily_rooms(requests: list[str]) -> dict:
    """Daily's room pages (the prebuilt call's frame, and daily-js's retry on dailywebrtc.com) are not
    reachable here: each request the page's SDK makes for one is recorded and answered with an empty page."""
    def handle(route):
        requests.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>Daily</title>")
    return {"https://*.daily.co/**": handle, "https://*.dailywebrtc.com/**": handle}


def _recorded(answers: list[dict]):
    """The API's answers to the page, as it got them (passed through)."""
    def handle(route):
        response = route.fetch()
        answers.append(response.json())
        route.fulfill(response=response)
    return handle


@pytest.fixture(scope="module")
def video(world, local_stack):
    daily = local_stack.stack.video
    if local_stack.stack.video_provider != "daily":
        pytest.fail("the room tests play Daily's SDK: run the stack with VIDEO_PROVIDER=daily (the default)")
    return daily


def test_room_joins_with_the_apis_room_and_token_and_closes_at_the_end(playwright, world, yookassa, video):
    """Camera and microphone allowed (Chromium's fake devices and permission prompt): the page asks for
    them, then has Daily's SDK join the room with the URL and meeting token the room endpoint gave - the
    frame requests the room's page with that token, one the Daily double admits at this time for this room
    (Daily's own call page cannot load here, so the call itself is not played) - and at the slot's end the
    room closes: the frame gone, 'over' shown."""
    uid = _owner(world)
    pet = _pet(world, uid)
    booking = _confirmed_booking(world, uid, pet)
    frames: list[str] = []
    answers: list[dict] = []
    browser = launch(playwright, FAKE_MEDIA, FAKE_UI)
    try:
        with _in_room_time(world, booking) as now, _app(
                browser, world, uid, f"/room/{booking['id']}", clock=now,
                routes={**_daily_rooms(frames), "**/room": _recorded(answers)}) as page:
            expect(page.get_by_test_id("room-stage")).not_to_have_attribute("data-stage", "loading")
            [room] = answers
            stage = page.get_by_test_id("room-stage")
            expect(stage).to_have_attribute("data-stage", "joining")
            expect(page.get_by_text(t("ru", "webapp.room.joining"))).to_be_visible()
            expect(page.frame_locator("[data-testid=room-stage] iframe").locator("title")).to_have_count(1)
            assert room["provider"] == "daily" and room["url"].startswith("https://telemed-test.daily.co/")
            frame = frames[0]
            requested = urllib.parse.urlsplit(frame)
            assert f"https://{requested.netloc}{requested.path}" == room["url"]
            assert urllib.parse.parse_qs(requested.query)["t"] == [room["token"]]
            name = room["url"].rsplit("/", 1)[-1]
            props = video.token_properties(room["token"], verify_time=True, at=now.timestamp())
            assert props["room_name"] == name and not props.get("is_owner")          # the owner's own token
            assert name in video.rooms
            assert room["join_url"] == f"{room['url']}?t={room['token']}"
            assert tg_log(page)["main"]["visible"] is False                          # no fallback offered

            ends = datetime.fromisoformat(room["ends_at"].replace("Z", "+00:00"))
            assert ends == datetime.fromisoformat(booking["end"].replace("Z", "+00:00"))
            page.clock.fast_forward(int((ends - now).total_seconds() * 1000) + 1000)
            expect(stage).to_have_attribute("data-stage", "ended")
            expect(page.get_by_text(t("ru", "webapp.room.ended"))).to_be_visible()
            expect(page.locator("[data-testid=room-stage] iframe")).to_have_count(0)    # Daily's frame destroyed
    finally:
        browser.close()


def test_room_refused_camera_offers_the_browser_link(playwright, world, yookassa, video):
    """Fake devices but the permission prompt refused (no fake UI: Playwright denies what it is not given):
    the page says so and Telegram's main button opens the chat's join link in the browser (openLink); nothing
    is joined; at the slot's end the page says the room is closed and offers nothing more."""
    uid = _owner(world, "en")
    pet = _pet(world, uid, "en")
    booking = _confirmed_booking(world, uid, pet, day=3)
    frames: list[str] = []
    answers: list[dict] = []
    browser = launch(playwright, FAKE_MEDIA)
    try:
        with _app(browser, world, uid, f"/room/{booking['id']}", lang="en") as page:   # days ahead: not open yet
            expect(page.get_by_test_id("room-closed")).to_have_text(t("en", "webapp.room.closed"))
            assert page.locator("iframe").count() == 0 and tg_log(page)["main"]["visible"] is False
        with _in_room_time(world, booking) as now, _app(
                browser, world, uid, f"/room/{booking['id']}", lang="en", clock=now,
                routes={**_daily_rooms(frames), "**/room": _recorded(answers)}) as page:
            expect(page.get_by_test_id("room-stage")).not_to_have_attribute("data-stage", "loading")
            [room] = answers
            fallback = page.get_by_test_id("room-fallback")
            expect(fallback).to_contain_text(t("en", "webapp.room.denied"))
            expect(fallback).to_contain_text(t("en", "webapp.room.browser_hint"))
            _main(page, t("en", "webapp.room.open_browser"))
            log = tg_log(page)
            assert log["links"] == [room["join_url"]] and "error" in log["haptics"]
            assert frames == [] and page.locator("iframe").count() == 0

            ends = datetime.fromisoformat(room["ends_at"].replace("Z", "+00:00"))
            page.clock.fast_forward(int((ends - now).total_seconds() * 1000) + 1000)
            expect(page.get_by_text(t("en", "webapp.room.ended"))).to_be_visible()
            expect(fallback).to_have_count(0)
            expect(page.locator("#tg-main-button")).to_be_hidden()
    finally:
        browser.close()


# ---- the vet's screens ------------------------------------------------------------------------------------
EXOTICS_VET = 910000003           # infra/local/demo_vets.py: Dana Omarova, birds, reptiles, other (no test books her)
SKIN_TRIAGE = {"area": "skin", "urgency": "consult",
               "findings": [{"label": "dermatitis", "p": 0.71}, {"label": "healthy", "p": 0.2}]}


def _vet(world, uid: int, lang: str = "ru") -> int:
    """A demo vet who also pressed Start in the bot (the Mini App needs a user record), once."""
    if not world["db"].document(f"users/{uid}").get().exists:
        _owner(world, lang, uid)
    return uid


def test_vet_edits_the_schedule_a_refusal_at_its_field_then_saved(browser, world):
    vet = _vet(world, EXOTICS_VET)
    before = _api(world, vet, "GET", "/api/vet/schedule")["schedule"]
    assert before["weekly"][1] == ["09:00-13:00", "14:00-18:00"] and before["weekly"][5] == []
    with _app(browser, world, vet) as page:
        page.get_by_role("link", name=t("ru", "webapp.vet.title")).click()
        page.get_by_role("link", name=t("ru", "webapp.vet.schedule")).click()
        tuesday = page.locator("#f-weekly_1")
        expect(tuesday).to_have_value("09:00-13:00, 14:00-18:00")
        tuesday.fill("18:00-10:00")                                  # inverted: the bot's parser refuses it
        _main(page, t("ru", "webapp.save"))
        error = page.locator("#weekly_1-error")
        expect(error).to_be_visible()
        expect(tuesday).to_have_attribute("aria-invalid", "true")
        expect(tuesday).to_be_focused()
        assert "18:00" in error.inner_text() and tg_log(page)["haptics"][-1] == "error"
        assert _api(world, vet, "GET", "/api/vet/schedule")["schedule"] == before          # nothing written

        tuesday.fill("10:00-14:00")
        page.locator("#f-weekly_5").fill("11:00-15:00")             # Saturday
        page.get_by_role("radio", name=t("ru", "webapp.vet.minutes", n=45)).first.check()   # the slot length
        page.get_by_label(t("ru", "webapp.vet.cap")).fill("4")
        page.get_by_role("button", name=t("ru", "webapp.vet.override_add")).click()
        day_off = (datetime.now() + timedelta(days=9)).date().isoformat()
        page.locator(".override").last.get_by_label(t("ru", "webapp.vet.override_date")).fill(day_off)
        _main(page, t("ru", "webapp.save"))
        expect(page.get_by_test_id("schedule-saved")).to_have_text(t("ru", "webapp.vet.saved"))
        expect(error).to_have_count(0)
        assert tg_log(page)["haptics"][-1] == "success"
    after = _api(world, vet, "GET", "/api/vet/schedule")["schedule"]
    assert after["weekly"][1] == ["10:00-14:00"] and after["weekly"][5] == ["11:00-15:00"]
    assert (after["slot_minutes"], after["daily_cap"]) == (45, 4)
    assert after["overrides"] == [{"date": day_off, "hours": []}]
    # the owners' calendar follows: 45-minute slots, Saturdays 11-15 (the vet's zone), nothing on the day off
    owner = _owner(world)
    days = _api(world, owner, "GET", f"/api/vets/{EXOTICS_VET}/calendar?species=bird&days=14")["days"]
    slots = [slot for day in days for slot in day["slots"]]
    assert slots and all(datetime.fromisoformat(x["end"][:-1]) - datetime.fromisoformat(x["start"][:-1])
                         == timedelta(minutes=45) for x in slots)
    assert day_off not in [day["date"] for day in days]


def test_vet_reads_the_patient_and_sends_the_conclusion(browser, world, yookassa):
    """A booking made from a photo check (its triage snapshot on the booking): the vet's desk lists it with the
    pet and the reason; its card shows the triage and the diary's week; once the consultation has begun the
    conclusion form takes the summary, recommendations, a follow-up date (one in the past refused by the
    server under its field) and the vet's word on the AI's answer; the owner is told in the chat and the
    booking is completed."""
    owner = _owner(world)
    pet = _pet(world, owner)
    _seed_weights(world, owner, pet["id"], [12.0, 12.3])
    booking = _confirmed_booking(world, owner, pet, day=4)
    world["db"].document(f"bookings/{booking['id']}").update({"triage_result_id": "tr-ui-1", "triage": SKIN_TRIAGE})
    vet = _vet(world, int(DEMO_VET))
    start = datetime.fromisoformat(booking["start"].replace("Z", "+00:00"))
    world["local_stack"].stack.move_clock(start + timedelta(minutes=10))
    try:
        with _app(browser, world, vet, "/vet", clock=start + timedelta(minutes=10)) as page:
            row = page.locator(f'[data-booking="{booking["id"]}"]')
            expect(row).to_contain_text(pet["name"])
            expect(row).to_contain_text(t("ru", "booking.vet_reason", reason="Кашляет"))
            row.get_by_role("link").click()
            expect(page.get_by_role("heading", name=pet["name"])).to_be_visible()
            expect(page.get_by_test_id("reason")).to_have_text(t("ru", "booking.vet_reason", reason="Кашляет"))
            names = {c["id"]: c["name"] for c in
                     _api(world, vet, "GET", f"/api/vet/bookings/{booking['id']}")["label_question"]["classes"]}
            expect(page.get_by_test_id("triage")).to_have_text(t(       # the classes named as the question names them
                "ru", "booking.vet_triage", urgency=t("ru", "triage.urgency.consult"),
                findings=f"{names['dermatitis']} 71%, {names['healthy']} 20%"))
            expect(page.get_by_test_id("week")).to_contain_text(t("ru", "diary.week_no_activity"))
            expect(page.get_by_role("button", name=t("ru", "webapp.vet.join"))).to_be_visible()   # the slot is on

            page.get_by_label(t("ru", "webapp.vet.summary")).fill("Аллергический дерматит")
            page.get_by_label(t("ru", "webapp.vet.recommendations")).fill("Гипоаллергенный корм 6 недель")
            follow = page.get_by_label(t("ru", "webapp.vet.follow_up"))
            follow.fill((start - timedelta(days=2)).date().isoformat())        # the past: refused by the server
            page.get_by_role("radio", name=t("ru", "conclusion.btn.right")).check()
            _main(page, t("ru", "webapp.vet.send"))
            expect(page.locator("#follow_up-error")).to_be_visible()
            expect(follow).to_have_attribute("aria-invalid", "true")
            assert world["db"].document(f"bookings/{booking['id']}").get().get("status") == "confirmed"

            follow_up = (start + timedelta(days=14)).date().isoformat()
            follow.fill(follow_up)
            _main(page, t("ru", "webapp.vet.send"))
            expect(page.get_by_test_id("conclusion-sent")).to_have_text(t("ru", "webapp.vet.sent"))
            expect(page.get_by_test_id("conclusion")).to_contain_text("Аллергический дерматит")
            expect(page.locator("#tg-main-button")).to_be_hidden()                 # written once
        card = _api(world, vet, "GET", f"/api/vet/bookings/{booking['id']}")
        assert card["conclusion"]["summary"] == "Аллергический дерматит"
        assert card["conclusion"]["follow_up"] == follow_up and card["can_conclude"] is False
        assert card["conclusion"]["label"]["verdict"] == "right" and card["conclusion"]["label"]["label"] == "dermatitis"
        assert world["db"].document(f"bookings/{booking['id']}").get().get("status") == "completed"
        told = [m.get("text") or "" for m in world["client"].messages(owner)]
        assert any("Аллергический дерматит" in text and "Гипоаллергенный корм" in text for text in told)
    finally:
        world["local_stack"].stack.move_clock(None)


# ---- every screen: light and dark, Russian and English; screenshots and axe-core -----------------------
SERIOUS = ("serious", "critical")


def _axe(page) -> list[dict]:
    """axe-core's violations on the page as shown (Telegram's own main button, drawn by the stand-in, left out)."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")      # evaluated, not a <script>: the page's CSP stays
    return page.evaluate("""async () => {
        const r = await axe.run({ exclude: [["#tg-main-button"]] }, { resultTypes: ["violations"] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                          nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ")) }));
    }""")


def _seed_weights(world, uid: int, pet_id: str, kgs: list[float]) -> None:
    """Earlier weighings in the diary (the API logs only today's), a week apart, oldest first."""
    from datetime import date, timedelta
    col = world["db"].collection(f"users/{uid}/pets/{pet_id}/weights")
    for n, kg in enumerate(kgs):
        on = date.today() - timedelta(days=7 * (len(kgs) - n))
        col.add({"on": on.isoformat(), "kg": kg, "created_at": datetime.now()})


def _shooter(lang: str, scheme: str, problems: dict[str, list[dict]]):
    """screen(page, name): the page as shown, whole, saved as .local/miniapp/<name>-<lang>-<scheme>.png, and
    its serious or critical axe-core violations added to `problems`."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def screen(page, name: str) -> None:
        page.wait_for_load_state("networkidle")
        # the whole page in a viewport as tall as it, so that the main button sits below the content
        height = 0
        while height != (height := page.evaluate("() => document.documentElement.scrollHeight")):
            page.set_viewport_size({**VIEWPORT, "height": max(VIEWPORT["height"], height)})   # until it fits
        page.screenshot(path=str(SHOTS / f"{name}-{lang}-{scheme}.png"))
        page.set_viewport_size(VIEWPORT)
        bad = [v for v in _axe(page) if v["impact"] in SERIOUS]
        if bad:
            problems[name] = bad
    return screen


THEMES_AND_LANGUAGES = [("ru", "light"), ("ru", "dark"), ("en", "light"), ("en", "dark")]


@pytest.mark.parametrize("lang,scheme", THEMES_AND_LANGUAGES)
def test_every_screen_screenshots_and_accessibility(browser, world, yookassa, lang, scheme):
    uid = _owner(world, lang)
    pet = _pet(world, uid, lang)
    _pet(world, uid, lang, species="cat", name="Мурка" if lang == "ru" else "Misty", breed=None, sex="female",
         birth_date="8 месяцев" if lang == "ru" else "8 months", weight_kg=3.1, neutered="yes")
    _seed_weights(world, uid, pet["id"], [11.2, 11.6, 11.9, 12.4, 12.1])
    problems: dict[str, list[dict]] = {}
    screen = _shooter(lang, scheme, problems)
    with _app(browser, world, uid, lang=lang, scheme=scheme, pay=_payer(world, uid, lang)) as page:
        expect(page.get_by_role("link", name=pet["name"])).to_be_visible()
        assert page.evaluate("() => document.documentElement.dataset.scheme") == scheme
        assert page.evaluate("() => document.documentElement.lang") == lang
        screen(page, "01-pets")
        page.get_by_role("link", name=pet["name"]).click()
        expect(page.locator(".chart-svg")).to_have_attribute("data-points", "5")
        page.locator(".point").nth(3).click()
        screen(page, "02-pet")
        page.get_by_role("button", name=t(lang, "webapp.pet.edit")).click()
        expect(page.get_by_label(t(lang, "field.name"))).to_have_value(pet["name"])
        page.get_by_label(t(lang, "field.name")).fill("")
        page.get_by_label(t(lang, "field.name")).fill("x" * 41)
        _main(page, t(lang, "webapp.save"))
        expect(page.locator("#name-error")).to_be_visible()                 # the server's limit, under the field
        screen(page, "03-form")
        press_back(page)
        _main(page, t(lang, "webapp.pet.find_vet"))
        expect(page.locator(f'[data-vet="{DEMO_VET}"]')).to_be_visible()
        screen(page, "04-vets")
        page.locator(f'[data-vet="{DEMO_VET}"]').click()
        page.locator(".day:not([disabled])").nth(2).click()
        page.locator(".slot").nth(1).click()
        screen(page, "05-calendar")
        _main(page, None)
        page.get_by_label(t(lang, "webapp.checkout.reason")).fill("Чешет ухо" if lang == "ru" else "Scratching an ear")
        screen(page, "06-checkout")
        _main(page, None)
        expect(page.get_by_test_id("confirmed")).to_be_visible(timeout=30_000)
        screen(page, "07-confirmed")
        _main(page, t(lang, "webapp.bookings.title"))
        page.get_by_role("button", name=t(lang, "webapp.bookings.cancel")).click()
        expect(page.get_by_test_id("refund-terms")).to_be_visible()
        screen(page, "08-bookings")
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("lang,scheme", THEMES_AND_LANGUAGES)
def test_more_screens_screenshots_and_accessibility(browser, world, yookassa, lang, scheme):
    """The owner's photo check, feeding, activity, treatment and reschedule screens, the vet's desk (and a
    booking's card reached from "my bookings"), schedule editor (a
    refusal shown), patient card with the conclusion form and the room's fallback, in light and dark, Russian
    and English: screenshots and axe-core as above."""
    uid = _owner(world, lang)
    pet = _pet(world, uid, lang)
    _seed_weights(world, uid, pet["id"], [11.9, 12.4, 12.1])
    vet = _vet(world, int(DEMO_VET) if lang == "ru" else 910000002, lang)
    booking = _confirmed_booking(world, uid, pet, day=6, vet=str(vet))
    world["db"].document(f"bookings/{booking['id']}").update({"triage_result_id": "tr-shot", "triage": SKIN_TRIAGE})
    problems: dict[str, list[dict]] = {}
    screen = _shooter(lang, scheme, problems)
    with _app(browser, world, uid, f"/pets/{pet['id']}/photo", lang=lang, scheme=scheme) as page:
        page.locator("#photo-input").set_input_files(str(DEMO_PHOTO))
        expect(page.get_by_test_id("triage-result")).to_be_visible(timeout=90_000)
        screen(page, "09-photo")
        press_back(page)
        page.get_by_role("link", name=t(lang, "diary.btn.food")).click()
        page.get_by_label(t(lang, "webapp.food.grams")).fill("150")
        _main(page, t(lang, "webapp.food.add"))
        expect(page.locator(".list .row")).to_have_count(1)
        screen(page, "10-food")
        press_back(page)
        page.get_by_role("link", name=t(lang, "diary.btn.activity")).click()
        page.get_by_label(t(lang, "webapp.activity.minutes")).fill("30")
        page.get_by_role("group", name=t(lang, "webapp.activity.mood")).get_by_role("radio", name="4").check()
        screen(page, "11-activity")
        page.goto(world["stack"]["miniapp_api"].rstrip("/") + f"/pets/{pet['id']}/treatments/new")
        page.get_by_label(t(lang, "webapp.treatments.product")).fill("Nobivac")
        screen(page, "17-treatment")
        page.goto(world["stack"]["miniapp_api"].rstrip("/") + f"/bookings/{booking['id']}/reschedule")
        page.locator(".day:not([disabled])").nth(1).click()
        page.locator(".slot").first.click()
        screen(page, "12-reschedule")
    with _app(browser, world, vet, lang=lang, scheme=scheme) as page:
        page.get_by_role("link", name=t(lang, "webapp.vet.title")).click()
        expect(page.locator(f'[data-booking="{booking["id"]}"]')).to_be_visible()
        screen(page, "13-vet-desk")
        press_back(page)
        page.get_by_role("link", name=t(lang, "webapp.bookings.title")).click()      # also in "my bookings"
        page.locator(f'[data-booking="{booking["id"]}"]').get_by_role(
            "button", name=t(lang, "webapp.vet.open_card")).click()
        expect(page.get_by_role("heading", name=pet["name"])).to_be_visible()
        page.goto(world["stack"]["miniapp_api"].rstrip("/") + "/vet")
        page.get_by_role("link", name=t(lang, "webapp.vet.schedule")).click()
        page.locator("#f-weekly_2").fill("19:00-09:00")
        _main(page, t(lang, "webapp.save"))
        expect(page.locator("#weekly_2-error")).to_be_visible()
        screen(page, "14-vet-schedule")
    during = datetime.fromisoformat(booking["start"].replace("Z", "+00:00")) + timedelta(minutes=10)
    world["local_stack"].stack.move_clock(during)
    try:
        with _app(browser, world, vet, f"/vet/bookings/{booking['id']}", lang=lang, scheme=scheme, clock=during) as page:
            page.get_by_label(t(lang, "webapp.vet.summary")).fill("Аллергический дерматит" if lang == "ru"
                                                                  else "Allergic dermatitis")
            page.get_by_role("radio", name=t(lang, "conclusion.btn.right")).check()
            screen(page, "15-vet-booking")
            page.get_by_role("button", name=t(lang, "webapp.vet.join")).click()
            # no camera in this browser; the room's chunk (the video SDK) and the room's API call come first,
            # which took over the default 5 s once on a machine loaded by other work
            expect(page.get_by_test_id("room-fallback")).to_be_visible(timeout=20_000)
            screen(page, "16-room")
    finally:
        world["local_stack"].stack.move_clock(None)
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)
