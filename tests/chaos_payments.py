"""A chaos run of consultation payments (tests/test_chaos_payments.py; CHAOS_OWNERS and CHAOS_SEED vary it):
owners hold, pay and are paid back through the webhook adapter on the Firestore emulator, with the Bot API
and YooKassa doubles in process, while things fail:

- the Bot API double answers 5xx (JSON, or nginx's HTML page) to bursts of sendInvoice,
  answerCallbackQuery, answerPreCheckoutQuery and sendMessage calls;
- Firestore commits of the bookings' repository (batches and single-document writes alike: both are one
  Commit RPC) fail with ABORTED before reaching the emulator, at a seeded rate (`AbortingFirestore`, the
  client the adapter is given);
- YooKassa's refunds time out (connection dropped, with or without the refund made), answer 500 (once, or
  twice: the client's budget then gives up and the ledger keeps the refund owed) or 202;
- successful_payment is delivered 1-3 times (the same update, or copies under new update ids), in a
  shuffled order, some after the hold ran out with the slot taken meanwhile, some with it still free,
  some racing a new owner's press for the same time;
- the tasks the code schedules (hold expiry; the no-show check and the room's end) are delivered twice
  each, shuffled, some racing the payments, a failed one again at once (as the Cloud Tasks emulator does).

A webhook answer other than 200 is delivered again, as Telegram does. Then `settle_pending`, as ops'
`reconcile --settle` would, and `check` asserts: every charge Telegram made is in the ledger and ended
with a booking confirmed by it or a full refund, refunds at YooKassa are at most one per charge and never
more than the charge, `reconcile` finds nothing, no hold is left, no vet's time is sold twice, the
pre-checkout queries were each answered once within Telegram's 10 s.

Who does what, when, how often, and the faults (which methods and calls fail, how, how many; Firestore's
draws in order) come from `seed`. Which concurrent delivery meets which fault is the event loop's
interleaving, which varies from run to run: the invariants must hold for any."""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone

from google.api_core import exceptions as gexc
from google.cloud import firestore
from telegram import Bot

from shared.adapters.firestore_bookings import FirestoreBookings
from shared.adapters.firestore_consultations import FirestoreConsultations
from shared.adapters.firestore_repositories import FirestoreOwners
from shared.adapters.firestore_vets import FirestoreVets
from shared.bot.consultation_messages import ConsultationNotifier
from shared.bot.handlers import fallback
from shared.bot.webhook import log as webhook_log
from shared.domain import consultations as rules
from shared.domain.bookings import ACTIVE, BookingStatus
from shared.domain.consultations import TaskKind
from shared.domain.slots import HOLD_TTL
from shared.services import payments
from shared.services.consultation_tasks import LedgerRefunds, RepositoryParticipants, TaskPorts, TaskRequest, run_task
from shared.services.ports import Role, VideoEvent, VideoEventKind
from tests.booking_harness import NOW, TOKEN, BookingBot, vet
from tests.consultation_fakes import FakeQueue, FakeVideo

SEED = 20261201
VETS = (101, 102, 103, 104, 105, 106)
DAYS = (date(2026, 12, 2), date(2026, 12, 3))   # vets work 09:00-18:00 Moscow = 06:00-15:00 UTC, 30-min slots
STANDING = (BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW_OWNER)
SOLD = STANDING + (BookingStatus.NO_SHOW_VET,)   # the vet's time was sold (refunded or not)
FIRST_OWNER = 810_000


class AbortingFirestore(firestore.AsyncClient):
    """A Firestore client whose commits fail before they reach the server, seeded: ABORTED at `rate` (what
    Firestore answers a write that lost to contention), UNAVAILABLE at `unavailable_rate` (what is left
    when the client library's own retries of an outage ran out). Every write of the client is one Commit
    RPC (a batch, or a document's create/update), so this is every write of the adapter built on it."""

    def __init__(self, *args, rate: float, seed: int, unavailable_rate: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.abort_rate = rate
        self.unavailable_rate = unavailable_rate
        self._rng = random.Random(seed)
        self.commits = 0
        self.aborted = 0
        self.unavailable = 0

    @property
    def _firestore_api(self):
        return _AbortingApi(super()._firestore_api, self)

    def fault(self) -> Exception | None:
        self.commits += 1
        draw = self._rng.random()
        if draw < self.abort_rate:
            self.aborted += 1
            return gexc.Aborted("injected: too much contention on these documents, please try again")
        if draw < self.abort_rate + self.unavailable_rate:
            self.unavailable += 1
            return gexc.ServiceUnavailable("injected: the service is currently unavailable")
        return None


class _AbortingApi:
    def __init__(self, api, client: AbortingFirestore):
        self._api = api
        self._client = client

    def __getattr__(self, name):
        return getattr(self._api, name)

    async def commit(self, *args, **kwargs):
        fault = self._client.fault()
        if fault is not None:
            raise fault
        return await self._api.commit(*args, **kwargs)


@dataclass
class Payer:
    uid: int
    role: str                       # pay | contend | late_taken | late_free | late_race | abandon | taker | racer
    slot: tuple[int, datetime]      # (vet, start UTC)
    booking_id: str | None = None   # the hold the owner got (their invoice's payload)
    invoice: dict | None = None
    charge_id: str | None = None    # Telegram charged them (the pre-checkout was answered ok)
    provider_id: str = ""
    amount: int = 0
    paid_update: dict | None = None


@dataclass
class Report:
    owners: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    pre_checkout_elapsed: list[float] = field(default_factory=list)
    charges: int = 0
    booked: int = 0
    refunded: int = 0
    refunded_no_show: int = 0
    pending_before_settle: int = 0
    settled: int = 0
    redeliveries: int = 0
    handler_failures: Counter = field(default_factory=Counter)
    task_runs: Counter = field(default_factory=Counter)
    task_failures: Counter = field(default_factory=Counter)
    commits: int = 0
    aborted: int = 0
    unavailable: int = 0
    bot_5xx: Counter = field(default_factory=Counter)
    yookassa_injected: Counter = field(default_factory=Counter)
    slot_taken: int = 0
    no_invoice: int = 0

    def lines(self) -> list[str]:
        pc = sorted(self.pre_checkout_elapsed)
        p = (lambda q: pc[min(len(pc) - 1, int(round(q * (len(pc) - 1))))] * 1000) if pc else (lambda q: 0.0)
        return [
            f"owners {self.owners}; phases (s): " + ", ".join(f"{k} {v:.1f}" for k, v in self.phases.items()),
            f"charges {self.charges}: booked {self.booked}, refunded {self.refunded} (of which vet no-show"
            f" {self.refunded_no_show}); owed after the run and settled by settle_pending: {self.pending_before_settle}"
            f" -> {self.settled}",
            f"faults: Firestore ABORTED {self.aborted}, UNAVAILABLE {self.unavailable} of {self.commits} commits;"
            f" Bot API 5xx {dict(self.bot_5xx)}; YooKassa {dict(self.yookassa_injected)};"
            f" webhook redeliveries {self.redeliveries};"
            f" task retries {dict(self.task_failures)}",
            f"logged by the webhook and its error handler {dict(self.handler_failures)}; presses refused as taken"
            f" {self.slot_taken}; holds without an invoice (sendInvoice given up) {self.no_invoice}",
            f"tasks run {dict(self.task_runs)}",
            f"pre-checkout answers {len(pc)}: p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, max {p(1.0):.0f} ms",
        ]


def stamp(moment: datetime) -> str:
    return f"{moment:%Y%m%d%H%M}"


def all_slots() -> list[tuple[int, datetime]]:
    out = []
    for v in VETS:
        for day in DAYS:
            start = datetime(day.year, day.month, day.day, 6, 0, tzinfo=timezone.utc)
            out += [(v, start + timedelta(minutes=30 * n)) for n in range(18)]
    return out


class _Failures(logging.Handler):
    """Counts what the webhook and its error handler log at WARNING and above, by its first words."""

    def __init__(self, counter: Counter):
        super().__init__(logging.WARNING)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().split("\n")[0]
        self.counter[" ".join(w for w in message.split() if not w.isdigit())[:70]] += 1


class ChaosRun:
    def __init__(self, client: firestore.AsyncClient, double, yookassa, owners: int = 200, seed: int = SEED,
                 abort_rate: float = 0.1, unavailable_rate: float = 0.02, at_once: int = 50):
        self.rng = random.Random(seed)
        self.double, self.yookassa = double, yookassa
        self.at_once = at_once
        self.bot = bot = BookingBot(client, double, yookassa)
        bot.crash_ok = True  # a handler failing under the faults is logged and counted, not a test failure
        self.chaos = AbortingFirestore(project=client.project, rate=abort_rate, unavailable_rate=unavailable_rate,
                                       seed=seed)
        self.queue = FakeQueue()  # what the code schedules; delivered below as Cloud Tasks would
        self.bookings = FirestoreBookings(self.chaos, bot.stats)
        bot.services = replace(bot.services, bookings=self.bookings, tasks=self.queue)
        bot.app.bot_data["services"] = bot.services
        provider = bot.services.payment_provider
        self.refunder = payments.Refunder(provider, self._no_stars, bot.services.clock)
        self.task_bot = Bot(TOKEN, base_url=f"{double.base_url}/bot")
        self.consultations = FirestoreConsultations(client, bot.stats)  # the video webhook's records
        self.ports = TaskPorts(
            bookings=self.bookings, consultations=FirestoreConsultations(self.chaos, bot.stats),
            participants=RepositoryParticipants(FirestoreOwners(client, bot.stats), FirestoreVets(client, bot.stats)),
            notifier=ConsultationNotifier(self.task_bot), video=FakeVideo(),
            refunds=LedgerRefunds(self.bookings, payments.Refunder(provider, self._no_stars, bot.services.clock)))
        self.report = Report(owners=owners)
        self.payers = self._cast(owners)
        self._update_ids = iter(range(900_000_000, 2_000_000_000))

    @staticmethod
    async def _no_stars(user_id, charge_id):  # pragma: no cover - the run pays in roubles
        raise AssertionError("a Stars refund in a provider run")

    # ---- the cast ------------------------------------------------------------------------------------

    def _cast(self, n: int) -> list[Payer]:
        rng = self.rng
        counts = {"late_taken": n // 10, "late_free": n // 12, "late_race": n // 20, "abandon": n // 16,
                  "contend": n // 10}
        counts["pay"] = n - 2 * counts["late_taken"] - 2 * counts["late_race"] - sum(
            v for k, v in counts.items() if k not in ("late_taken", "late_race"))
        if counts["pay"] < counts["contend"]:
            raise ValueError("too few owners for the cast")
        roles = [r for r in ("pay", "late_taken", "late_free", "late_race", "abandon") for _ in range(counts[r])]
        slots = rng.sample(all_slots(), len(roles))
        uid = iter(range(FIRST_OWNER, FIRST_OWNER + n))
        payers = [Payer(next(uid), role, slot) for role, slot in zip(roles, slots)]
        pay = [p for p in payers if p.role == "pay"]
        payers += [Payer(next(uid), "contend", p.slot) for p in rng.sample(pay, counts["contend"])]
        payers += [Payer(next(uid), "taker", p.slot) for p in payers if p.role == "late_taken"]
        payers += [Payer(next(uid), "racer", p.slot) for p in payers if p.role == "late_race"]
        assert len(payers) == n, (len(payers), n)
        return payers

    def of(self, *roles: str) -> list[Payer]:
        return [p for p in self.payers if p.role in roles]

    # ---- delivering --------------------------------------------------------------------------------

    async def gather(self, coros) -> list:
        gate = asyncio.Semaphore(self.at_once)

        async def one(coro):
            async with gate:
                return await coro

        return list(await asyncio.gather(*(one(c) for c in coros)))

    async def telegram(self, update: dict) -> None:
        """Delivers an update as Telegram does: again while the webhook answers anything but 200."""
        for _ in range(6):
            if await self.bot.deliver(update) == 200:
                return
            self.report.redeliveries += 1
        raise AssertionError(f"update {update['update_id']} never taken")

    async def task(self, kind: str, booking_id: str, version: str, now: datetime) -> None:
        """One delivery of a task, retried at once while it fails (the Cloud Tasks emulator's way)."""
        for _ in range(40):
            try:
                outcome = await run_task(TaskRequest(TaskKind(kind), booking_id, version), self.ports, now)
            except Exception as err:  # noqa: BLE001 - the function answers 500; Cloud Tasks retries
                self.report.task_failures[type(err).__name__] += 1
                continue
            self.report.task_runs[f"{kind}:{outcome.value}"] += 1
            return
        raise AssertionError(f"task {kind} of {booking_id} kept failing")

    def due_tasks(self, kinds: set[str], now: datetime) -> list[tuple[str, str, str]]:
        return [(kind, booking_id, version) for kind, booking_id, at, version in self.queue.tasks.values()
                if kind in kinds and at <= now]

    def twice_shuffled(self, tasks, now: datetime) -> list:
        copies = [t for t in tasks for _ in range(2)]
        self.rng.shuffle(copies)
        return [self.task(kind, booking_id, version, now) for kind, booking_id, version in copies]

    def copies(self, update: dict, n: int) -> list[dict]:
        """n deliveries of one update: the same update again, or copies under new update ids."""
        out = [update]
        for _ in range(n - 1):
            out.append(update if self.rng.random() < 0.5 else dict(update, update_id=next(self._update_ids)))
        return out

    # ---- the steps ------------------------------------------------------------------------------------

    async def seed(self) -> None:
        bot = self.bot
        await bot.vets(*(vet(v, name=f"Врач {v}") for v in VETS))

        async def owner(p: Payer) -> None:
            [pet] = await bot.owner(p.uid)
            draft = {"pet_id": pet.id, "name": pet.name, "species": "dog", "reason": "Чешет ухо"}
            await bot.services.owners.ref(p.uid).update(
                {"dialog": {"name": "consult", "step": "c_pick", "draft": draft}})

        await self.gather(owner(p) for p in self.payers)
        await bot.app.initialize()

    async def press(self, payers: list[Payer]) -> None:
        since = self.bot.seq()
        updates = [(p, self.bot.updates.callback(f"cs:s:{p.slot[0]}:{stamp(p.slot[1])}", user_id=p.uid))
                   for p in payers]
        self.rng.shuffle(updates)
        await self.gather(self.telegram(u) for _, u in updates)
        taken = [c for c in self.double.calls("answerCallbackQuery", since=since)
                 if c["status"] == 200 and "заняли" in c["params"].get("text", "")]
        self.report.slot_taken += len(taken)
        for p in payers:
            invoices = self.bot.invoices(p.uid)
            if invoices:
                p.invoice = invoices[-1]
                p.booking_id = self.double.invoice(p.invoice)["payload"]

    async def pre_checkout(self, p: Payer) -> None:
        """The owner presses Pay: Telegram asks the bot, and charges them if it answered ok in time."""
        built = self.double.pay(p.invoice, p.uid, deliver=False, yookassa=self.yookassa)
        await self.telegram(built["pre_checkout"])
        [query] = self.double.pre_checkout_answers(built["pre_checkout"]["pre_checkout_query"]["id"])
        assert len(query["answers"]) <= 1, query
        answer = query["answers"][0] if query["answers"] else None
        if answer is not None:
            self.report.pre_checkout_elapsed.append(answer["elapsed"])
        if answer and answer["ok"] and answer["elapsed"] <= 10:
            p.charge_id, p.provider_id = built["charge_id"], built["provider_payment_charge_id"]
            p.amount = built["successful_payment"]["message"]["successful_payment"]["total_amount"]
            p.paid_update = built["successful_payment"]

    def payments_of(self, payers: list[Payer]) -> list:
        updates = [u for p in payers if p.paid_update
                   for u in self.copies(p.paid_update, self.rng.choice((1, 1, 2, 3)))]
        self.rng.shuffle(updates)
        return [self.telegram(u) for u in updates]

    def bot_faults(self, *methods: str) -> None:
        for method in methods:
            code = self.rng.choice((500, 502, 503, 504))
            count = self.rng.randint(1, 3)
            self.double.inject_error(method, code, count=count, html=code in (502, 504))

    def refund_faults(self, n: int) -> None:
        """n seeded YooKassa failures, queued for the next refund calls."""
        menu = [dict(answer="timeout", delay=0.05), dict(answer="timeout", delay=0.05, execute=True),
                dict(answer=500), dict(answer=500, execute=True), dict(answer=500, count=2),
                dict(answer="timeout", delay=0.05, execute=True, count=2), dict(answer=202, retry_after=20),
                dict(answer=503, retry_after=10)]
        for _ in range(n):
            fault = dict(self.rng.choice(menu))
            self.yookassa.inject(fault.pop("answer"), **fault)

    async def outlasted_refund(self, late_taken: list[Payer]) -> None:
        """One late payment for a time another owner holds or booked (the taker's press may have failed)
        arrives alone while YooKassa is down for longer than the
        client's retries: its refund stays owed (settle_pending's work in E). The seeded faults alone
        cannot promise that: concurrent refunds share them, so none may meet enough in a row."""
        takers = {p.slot: p.booking_id for p in self.of("taker") if p.booking_id}
        held = await self.bookings.get_many(takers.values())
        late = next((p for p in late_taken if p.paid_update and p.slot in takers
                     and held[takers[p.slot]].status in ACTIVE), None)
        assert late is not None, "no late payer's time was taken by another owner"
        self.yookassa.inject(503, count=self.bot.services.payment_provider.retry.attempts)
        await self.telegram(late.paid_update)
        entry = await self.bookings.ledger(late.paid_update["message"]["successful_payment"]["telegram_payment_charge_id"])
        assert entry.status == "refund_pending", entry

    async def run(self) -> Report:
        timer = time.perf_counter()
        report = self.report

        def lap(name: str) -> None:
            nonlocal timer
            report.phases[name] = time.perf_counter() - timer
            timer = time.perf_counter()

        failures = _Failures(report.handler_failures)
        fallback.log.addHandler(failures)
        webhook_log.addHandler(failures)
        try:
            await self._run(lap)
        finally:
            fallback.log.removeHandler(failures)
            webhook_log.removeHandler(failures)
        report.commits, report.aborted, report.unavailable = (self.chaos.commits, self.chaos.aborted,
                                                              self.chaos.unavailable)
        for call in self.double.calls():
            if call.get("status", 200) >= 500:
                report.bot_5xx[call["method"]] += 1
        for call in self.yookassa.calls():
            if call.get("injected") is not None:
                report.yookassa_injected[str(call["injected"])] += 1
        return report

    async def _run(self, lap) -> None:
        bot, report = self.bot, self.report
        await self.seed()
        lap("seed")

        # A: everyone presses a time at once (contenders press another's); the Bot API stumbles
        bot.now = NOW
        self.bot_faults("sendInvoice", "answerCallbackQuery", "sendMessage", "sendInvoice")
        await self.press(self.of("pay", "contend", "late_taken", "late_free", "late_race", "abandon"))
        held = {}
        for p in self.of("pay", "contend", "late_taken", "late_free", "late_race", "abandon"):
            if p.booking_id:
                assert held.setdefault(p.slot, p.uid) == p.uid, f"two holds of {p.slot}"
        lap("holds")

        # B: a minute later those with an invoice press Pay; in-time payments arrive, duplicated, shuffled
        bot.now = NOW + timedelta(minutes=1)
        self.bot_faults("answerPreCheckoutQuery", "answerPreCheckoutQuery")
        payers = [p for p in self.of("pay", "contend", "late_taken", "late_free", "late_race") if p.invoice]
        await self.gather(self.pre_checkout(p) for p in payers)
        self.bot_faults("sendMessage", "sendMessage")
        await self.gather(self.payments_of(self.of("pay", "contend")))
        lap("pay in time")

        # C: the holds have run out; some expiry tasks run, then new owners take the late payers' times,
        # then the late payments arrive with the rest of the expiry tasks and racing presses
        bot.now = now = NOW + HOLD_TTL + timedelta(minutes=1)
        expiries = self.due_tasks({TaskKind.HOLD_EXPIRED.value}, now)
        self.rng.shuffle(expiries)
        first, rest = expiries[: len(expiries) // 2], expiries[len(expiries) // 2:]
        await self.gather(self.twice_shuffled(first, now))
        await self.press(self.of("taker"))
        await self.gather(self.pre_checkout(p) for p in self.of("taker") if p.invoice)
        await self.gather(self.payments_of(self.of("taker")))
        await self.outlasted_refund(self.of("late_taken"))
        self.refund_faults(max(6, len(self.of("late_taken")) // 2))
        self.bot_faults("sendMessage", "answerCallbackQuery", "sendInvoice")
        racers = self.of("racer")
        mixed = self.payments_of(self.of("late_taken", "late_free", "late_race")) + self.twice_shuffled(rest, now)
        mixed.append(self.press(racers))
        self.rng.shuffle(mixed)
        await self.gather(mixed)
        await self.gather(self.pre_checkout(p) for p in racers if p.invoice)
        await self.gather(self.payments_of(racers))
        lap("late payments")

        # D: after every consultation: some vets came (and some owners); no-show checks, room ends and
        # stale hold expiries, each twice, shuffled; refunds and messages fail on the way
        bot.now = now = datetime(2026, 12, 4, 0, 0, tzinfo=timezone.utc)
        booked = [b for b in (await self.bookings.get_many(
            p.booking_id for p in self.payers if p.booking_id)).values() if b.status == BookingStatus.CONFIRMED]
        for b in booked:
            if self.rng.random() < 0.6:
                await self._joined(b, Role.VET)
                if self.rng.random() < 0.8:
                    await self._joined(b, Role.OWNER)
        self.refund_faults(max(6, len(booked) // 6))
        self.bot_faults("sendMessage", "sendMessage", "sendMessage")
        kinds = {TaskKind.HOLD_EXPIRED.value, TaskKind.NO_SHOW_CHECK.value, TaskKind.END_ROOM.value}
        await self.gather(self.twice_shuffled(self.due_tasks(kinds, now), now))
        lap("tasks")

        # E: what is still owed is paid back, as `infra.ops payments reconcile --settle` would
        owed = [e for e in await self.bookings.ledger_entries() if e.status == "refund_pending"]
        report.pending_before_settle = len(owed)
        for _ in range(3):
            done = await payments.settle_pending(self.bookings, self.refunder)
            report.settled += sum(ok for _, ok in done)
            if all(ok for _, ok in done):
                break
        lap("settle")

    async def _joined(self, booking, role: Role) -> None:
        event = VideoEvent(f"ev-{booking.id}-{role.value}", VideoEventKind.JOINED, rules.room_name(booking.id), role,
                           booking.start + timedelta(minutes=2))
        await self.consultations.record_video_event(booking.id, event)

    # ---- the invariants ------------------------------------------------------------------------------

    async def check(self) -> Report:
        report = self.report
        charged = {p.charge_id: p for p in self.payers if p.charge_id}
        ledger = {e.charge_id: e for e in await self.bookings.ledger_entries()}
        assert set(ledger) == set(charged), (
            f"charges missing from the ledger: {sorted(set(charged) - set(ledger))}; "
            f"in the ledger, never charged: {sorted(set(ledger) - set(charged))}")
        problems = await payments.reconcile(self.bookings)
        assert problems == [], problems
        bookings = await self.bookings.get_many(e.booking_id for e in ledger.values())
        report.charges = len(charged)
        takers = {p.slot: p for p in self.of("taker")}
        total_charged = total_refunded = 0
        for charge_id, p in charged.items():
            e, b = ledger[charge_id], bookings.get(ledger[charge_id].booking_id)
            total_charged += e.amount
            made = [r for r in self.yookassa.refunds(p.provider_id) if r["status"] == "succeeded"]
            made_total = sum(round(float(r["amount"]["value"]) * 100) for r in made)
            assert len(made) <= 1 and made_total <= e.amount, (p.role, made)
            assert made_total == e.refunded, (p.role, made_total, e.refunded)
            total_refunded += made_total
            if e.status == "confirmed":
                assert b is not None and b.charge_id == charge_id and b.status in STANDING, (p.role, e, b)
                assert made_total == 0, (p.role, made)
                report.booked += 1
            else:
                assert e.status == "refunded" and e.refunded == e.amount, (p.role, e)
                report.refunded += 1
                report.refunded_no_show += bool(b is not None and b.charge_id == charge_id
                                                and b.status is BookingStatus.NO_SHOW_VET)
            if p.role == "late_taken" and takers[p.slot].booking_id:  # the time was held by another meanwhile
                assert e.status == "refunded" and (b is None or b.charge_id != charge_id), (p.role, e, b)
            if p.role in ("pay", "contend", "late_free", "taker"):
                assert b is not None and b.charge_id == charge_id and b.status in SOLD, (p.role, e, b)
        assert total_refunded <= total_charged
        # every booking: no hold left, and a vet's sold times never overlap
        every = [b async for b in self._all_bookings()]
        report.no_invoice = len({b.id for b in every} - {p.booking_id for p in self.payers})
        assert not [b for b in every if b.status is BookingStatus.HELD], "holds left after their expiry tasks"
        sold: dict[int, list] = {}
        for b in every:
            if b.status in SOLD:
                assert b.charge_id in ledger and ledger[b.charge_id].booking_id == b.id, b
                sold.setdefault(b.vet_id, []).append(b)
        for mine in sold.values():
            mine.sort(key=lambda b: b.start)
            for a, b in zip(mine, mine[1:]):
                assert a.end + timedelta(minutes=a.buffer_minutes) <= b.start, f"double-booked: {a.id} {b.id}"
        for q in self.double.pre_checkout_answers():
            assert len(q["answers"]) == 1 and q["answers"][0]["elapsed"] < 10, q
        return report

    async def _all_bookings(self):
        from shared.adapters.firestore_bookings import booking_from

        async for snap in self.bot.client.collection("bookings").stream():
            yield booking_from(snap.id, snap.to_dict())
