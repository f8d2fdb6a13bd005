"""The Mini App in the demo: the owner opens it (served by the stack's miniapp_api) in headless Chromium as
Telegram would, with initData signed with the stack's bot token (infra/local/miniapp_browser.py's stand-in),
and books a consultation screen by screen: the pets list, the pet's card, the vets for the pet, a day and a
time of the vet's calendar, the summary with the reason, Telegram's payment form opened by the app
(``openInvoice``: the Bot API double plays it, YooKassa's double holds the payment, as in the chat), the
booking confirmed, my bookings. Each screen is saved as a PNG (light theme; my bookings in dark too) and told
in the demo's transcript as "📱 Mini App: …" lines, with what the bot sent the owner and the vet meanwhile.

The booking is a real one: the webhook's pre-checkout and payment handlers confirm it, as for the chat's
invoice (infra/local/demo.py then shows it in the bot's /bookings; tests/test_demo.py checks Firestore).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlsplit

from playwright.sync_api import expect, sync_playwright

from infra.local.demo_consultation import Scene
from infra.local.miniapp_browser import VIEWPORT, init_data, launch, open_context, press_main, tg_log
from infra.local.owner_chat import _amount

ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 30_000


@dataclass
class Booked:
    """What the app booked: the booking (its id is the invoice's payload) and the screenshots saved."""

    booking_id: str = ""
    shots: list[Path] = field(default_factory=list)


def book(s: Scene, *, pet: str, vet_id: int, day: date, reason: str, out: Path) -> Booked:
    """The owner of scene `s` books `pet` with the vet `vet_id` on `day` (the day's first free time) in the
    Mini App and pays; screenshots go to `out`. Raises if any screen does not show what it should (the
    failing page saved as out/failure.png)."""
    owner, info = s.owner, s.stack.info
    url = info["miniapp_api"].rstrip("/")
    init = init_data(owner.user_id, info["bot_token"], language=owner.language_code, first_name=owner.name)
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.png"), *out.glob("failure.*")]:
        old.unlink()
    done = Booked()
    t0 = time.monotonic()

    def say(text: str) -> None:
        owner.transcript.append(f"📱 Mini App: {text}")

    def shot(page, name: str) -> str:
        path = _screenshot(page, out / f"{name}.png")
        done.shots.append(path)
        return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)

    def pay(link: str) -> str:
        """Telegram's payment form, as openInvoice opens it: the Bot API double sends the webhook the
        pre-checkout query and the successful payment; the provider's payment made in YooKassa's double."""
        invoice = owner.client.invoice(link)
        payment = s.stack.yookassa.create_payment(invoice["total_amount"], invoice["currency"])["id"]
        result = owner.client.pay(link, owner.user_id, provider_payment_charge_id=payment,
                                  language_code=owner.language_code)
        done.booking_id = invoice["payload"]
        owner.transcript.append(f"{owner.icon} {owner.name}: [pays {_amount(invoice['total_amount'], invoice['currency'])} "
                                f"in Telegram's payment form, opened by the app]"
                                + ("" if result["ok"] else f" · Telegram: {result['error_message']}"))
        return "paid" if result["ok"] else "failed"

    say(f"{owner.name} opens the app (in Telegram: the bot's menu button; here headless Chromium at {url}/ with "
        f"Telegram's initData signed with the bot's token)")
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = open_context(browser, init, scheme="light", language=owner.language_code, pay=pay)
            page = context.new_page()
            try:
                page.goto(url + "/")
                pets = page.locator("a[data-pet]")
                expect(pets.first).to_be_visible(timeout=WAIT_MS)
                listed = "; ".join(_row(pets.nth(i)) for i in range(pets.count()))
                say(f"«{_heading(page)}»: {listed} → {shot(page, '01-pets')}")

                pets.filter(has_text=pet).first.click()
                expect(page.locator("h1")).to_contain_text(pet)
                chart = page.locator(".chart-svg")
                expect(chart).to_be_visible(timeout=WAIT_MS)
                say(f"«{_heading(page)}»: the card ({_details(page)}), the weight chart with "
                    f"{chart.get_attribute('data-points')} weighings → {shot(page, '02-pet')}")

                say(f"{owner.name} presses «{_press(page)}» (Telegram's main button)")
                vets = page.locator("a[data-vet]")
                expect(vets.first).to_be_visible(timeout=WAIT_MS)
                listed = "; ".join(_row(vets.nth(i)) for i in range(vets.count()))
                say(f"«{_heading(page)}» for {pet}: {listed} → {shot(page, '03-vets')}")
                vet = _find_vet(page, vet_id)

                vet.click()
                day_button = page.locator(f'.day[data-date="{day.isoformat()}"]')
                expect(day_button).to_be_enabled(timeout=WAIT_MS)
                day_button.click()
                slots = page.locator(".slot")
                expect(slots.first).to_be_visible()
                slot = slots.first
                slot.click()
                expect(slot).to_have_attribute("aria-checked", "true")
                times = ", ".join(slots.all_inner_texts())
                subtitle = " · ".join(page.locator(".screen > p.hint").all_inner_texts())
                say(f"«{_heading(page)}» ({subtitle}): {day_button.get_attribute('aria-label')} — {times}; "
                    f"{owner.name} picks {slot.inner_text()} → {shot(page, '04-calendar')}")

                _press(page)
                page.locator("#reason").fill(reason)
                say(f"«{_heading(page)}»: {_details(page)}; the reason «{reason}» → {shot(page, '05-checkout')}")

                since = owner.client.last_seq()
                button = _press(page)
                say(f"{owner.name} presses «{button}»: the app holds the time (POST /api/bookings), gets an invoice "
                    f"link (createInvoiceLink) and opens it with openInvoice")
                confirmed = page.get_by_test_id("confirmed")
                expect(confirmed).to_be_visible(timeout=WAIT_MS)
                owner.show_since(since)   # what the bot told the owner and the vet on the payment
                booking_id = unquote(urlsplit(page.url).path.rsplit("/", 1)[-1])
                if booking_id != done.booking_id or tg_log(page)["invoiceStatuses"] != ["paid"]:
                    raise AssertionError(f"the app shows booking {booking_id}, the invoice paid was "
                                         f"{done.booking_id} ({tg_log(page).get('invoiceStatuses')})")
                say(f"«{_heading(page)}»: {confirmed.inner_text()} — {_details(page)} "
                    f"(booking {booking_id}) → {shot(page, '06-confirmed')}")

                _press(page)
                card = page.locator(f'[data-booking="{booking_id}"]')
                expect(card).to_be_visible(timeout=WAIT_MS)
                say(f"«{_heading(page)}»: {_row(card)} → {shot(page, '07-bookings')}")
            except BaseException:
                _failure(page, out)
                raise
            finally:
                context.close()

            context = open_context(browser, init, scheme="dark", language=owner.language_code)
            page = context.new_page()
            try:
                page.goto(url + "/bookings")
                expect(page.locator(f'[data-booking="{done.booking_id}"]')).to_be_visible(timeout=WAIT_MS)
                say(f"the same in Telegram's dark theme → {shot(page, '08-bookings-dark')}")
                say(f"{len(done.shots)} screens in {time.monotonic() - t0:.1f} s (Chromium's start and the payment "
                    f"included)")
            except BaseException:
                _failure(page, out)
                raise
            finally:
                context.close()
        finally:
            browser.close()
    return done


def _press(page) -> str:
    """Presses Telegram's main button once the screen shows it (as a person waits for it); its text."""
    button = page.locator("#tg-main-button")
    expect(button).to_be_visible(timeout=WAIT_MS)
    text = button.inner_text()
    press_main(page)
    return text


def _heading(page) -> str:
    return page.locator("h1").first.inner_text().strip()


def _row(row) -> str:
    """A row (or card) of a list as one line: the title (its lines), the price if shown."""
    subs = "; ".join(text.strip() for text in row.locator(".row-sub").all_inner_texts())
    price = row.locator(".price")
    return (row.locator(".row-title").first.inner_text().strip() + (f" ({subs})" if subs else "")
            + (f", {price.first.inner_text().strip()}" if price.count() else ""))


def _details(page) -> str:
    """The screen's details list (dt: dd, ...) as one line."""
    rows = page.locator(".details .details-row")
    return ", ".join(f"{rows.nth(i).locator('dt').inner_text()}: {rows.nth(i).locator('dd').inner_text()}"
                     for i in range(rows.count()))


def _find_vet(page, vet_id: int):
    """The vet's row of the vets list, turning its pages while there is a next one."""
    vet = page.locator(f'a[data-vet="{vet_id}"]')
    while not vet.count():
        following = page.locator(".pager button").last
        if not following.count() or following.is_disabled():
            raise LookupError(f"vet {vet_id} is not in the app's list for the pet")
        first = page.locator("a[data-vet]").first.get_attribute("data-vet")
        following.click()
        expect(page.locator("a[data-vet]").first).not_to_have_attribute("data-vet", first)
    return vet


def _screenshot(page, path: Path) -> Path:
    """The whole screen as shown: the viewport as tall as the page (Telegram's main button, drawn by the
    stand-in at the page's end, below the content), once the page's requests are done."""
    page.wait_for_load_state("networkidle")
    height = 0
    while height != (height := page.evaluate("() => document.documentElement.scrollHeight")):
        page.set_viewport_size({**VIEWPORT, "height": max(VIEWPORT["height"], height)})
    page.screenshot(path=str(path))
    page.set_viewport_size(VIEWPORT)
    return path


def _failure(page, out: Path) -> None:
    try:
        page.screenshot(path=str(out / "failure.png"), full_page=True)
        (out / "failure.txt").write_text(page.url + "\n" + page.inner_text("body"), encoding="utf-8")
    except Exception:   # the page itself may be what broke; the original error is what matters
        pass
