"""A paid video consultation played through the functions by its three people: a vet applies (/vet),
an ops person approves in the ops chat, the vet publishes hours (/schedule), the owner books from a
photo check's answer and pays in Telegram's payment form (the Bot API double's pay(): YooKassa's double
holds a payment in roubles, or Stars), the stack's clock moves on to the reminders, the room, the links
and the call (the video double's participants join; its signed webhooks reach booking_callbacks), the
vet writes the conclusion, the owner rates it and they exchange messages; a second booking is cancelled
with its refund.

Every step is a button press or a message, found by its callback data (not its text), so the same steps
play in Russian and in English: infra/local/demo.py prints them as a chat, tests/test_consultation_e2e.py
asserts on them. Nothing is written to Firestore here: the people do everything through the bot.
"""
from __future__ import annotations

import io
import sys
import urllib.parse
import weakref
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.demo_vets import portrait_jpeg
from infra.local.owner_chat import OwnerChat, Turn
from infra.local.stack import LocalStack
from shared.domain.reminders import TIMEZONE_CHOICES

VET_ICON, OPS_ICON = "🩺", "🛡"


@dataclass(frozen=True)
class Application:
    """What the vet answers in /vet."""

    full_name: str
    city: str
    education: str
    experience: str
    bio: str
    price: str                                  # roubles, as typed
    species: tuple[str, ...] = ("dog", "cat")
    areas: tuple[str, ...] = ("dermatology", "general")
    languages: tuple[str, ...] = ("ru",)
    timezone: str = "Europe/Moscow"


@dataclass
class Scene:
    """The people of one consultation and what has been booked; one per owner's chat."""

    stack: LocalStack
    owner: OwnerChat
    vet: OwnerChat
    ops: OwnerChat
    bookings: list[str] = field(default_factory=list)
    starts: dict[str, datetime] = field(default_factory=dict)
    video: Any = None             # the video provider's double the functions use (default: the stack's)

    def __post_init__(self) -> None:
        if self.video is None:
            self.video = self.stack.video

    @property
    def booking_id(self) -> str:
        return self.bookings[-1]

    @property
    def start(self) -> datetime:
        return self.starts[self.booking_id]

    def seq(self) -> int:
        return self.owner.client.last_seq()


_SCENES: "weakref.WeakKeyDictionary[OwnerChat, Scene]" = weakref.WeakKeyDictionary()


def scene(info: dict, client: BotApiDoubleClient, owner: OwnerChat, *, vet_id: int, vet_name: str,
          vet_language: str | None = None, ops_name: str = "Олег", video: Any = None) -> Scene:
    """The vet (their private chat) and an ops person (pressing in the ops chat) beside `owner`, one
    transcript for the three; made once per owner's chat. `video`: another video double than the stack's
    (the functions it is wired to play this consultation)."""
    if owner in _SCENES:
        return _SCENES[owner]
    ops_id = next(int(i) for i in info["ops_user_ids"].split(",") if int(i) not in (owner.user_id, vet_id))
    vet = OwnerChat(client, vet_id, vet_language or owner.language_code, vet_name, icon=VET_ICON)
    ops = OwnerChat(client, ops_id, "ru", ops_name, chat_id=int(info["ops_chat_id"]), icon=OPS_ICON,
                    label="ops chat")
    owner.join(vet, ops)
    _SCENES[owner] = made = Scene(LocalStack.of(info), owner, vet, ops, video=video)
    return made


# ---- the vet joins -----------------------------------------------------------------------------------

def document_jpeg(seed: int = 0) -> bytes:
    """A generated diploma-like page (no real document)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (640, 460), (250, 248, 240))
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 20, 620, 440), outline=(120, 100, 60), width=6)
    for n in range(7):
        draw.rectangle((80, 90 + n * 45, 560 - (n * 37 + seed * 11) % 180, 104 + n * 45), fill=(60, 60, 90))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return out.getvalue()


def apply(vet: OwnerChat, form: Application) -> Turn:
    """/start, consent, then every step of /vet; the press that sends the application."""
    vet.send("/start")
    vet.press(data="consent:yes:")
    vet.send("/vet")
    for answer in (form.full_name, form.city, form.education):
        vet.send(answer)
    vet.photo(document_jpeg(), "diploma.jpg")
    vet.press(data="va:n:dc")
    for code, chosen in (("sp", form.species), ("ar", form.areas)):
        for value in chosen:
            vet.press(data=f"va:t:{code}:{value}")
        vet.press(data=f"va:n:{code}")
    vet.send(form.experience)
    for value in form.languages:
        vet.press(data=f"va:t:lg:{value}")
    vet.press(data="va:n:lg")
    vet.send(form.bio)
    vet.photo(portrait_jpeg(3), "portrait.jpg")
    vet.send(form.price)
    vet.press(data=f"va:z:{TIMEZONE_CHOICES.index(form.timezone)}")
    return vet.press(data="va:s")


def approve(ops: OwnerChat, vet_id: int) -> Turn:
    """The ops person presses Approve under the application's notice in the ops chat."""
    return ops.press(data=f"vo:a:{vet_id}")


def publish_hours(vet: OwnerChat, day: date, hours: str) -> Turn:
    """/schedule: the hours of `day`'s weekday; the first hours make the vet bookable."""
    vet.send("/schedule")
    vet.press(data=f"vs:d:{day.weekday()}")
    return vet.send(hours)


# ---- booking and paying ---------------------------------------------------------------------------------

def book(s: Scene, vet_id: int, start: datetime, reason: str, tz: str) -> Turn:
    """From the reason question on (the triage answer's 'Book a vet' or /consult asked it): the reason,
    the vet, the day and the time (`start`, on the owner's clock `tz`); the turn with the invoice."""
    owner = s.owner
    owner.send(reason)
    owner.press(data=f"cs:v:{vet_id}")
    owner.press(data=f"cs:d:{vet_id}:{start.astimezone(ZoneInfo(tz)):%Y%m%d}")
    turn = owner.press(data=f"cs:s:{vet_id}:{start.astimezone(timezone.utc):%Y%m%d%H%M}")
    booking_id = newest_invoice(owner)["payload"]
    s.bookings.append(booking_id)
    s.starts[booking_id] = start.astimezone(timezone.utc)
    return turn


def newest_invoice(owner: OwnerChat) -> dict:
    """The invoice behind the newest invoice message of the owner's chat, as the Bot API double holds it."""
    message = next(m for m in reversed(owner.messages()) if "invoice" in m)
    return owner.client.invoice({"chat_id": owner.chat_id, "message_id": message["message_id"]})


def pay(s: Scene) -> tuple[Turn, dict]:
    """The owner pays the newest invoice (roubles: a payment made in YooKassa's double first)."""
    return s.owner.pay(yookassa=s.stack.yookassa)


def free_start(first_day: date, hours_from: str, tz: str) -> datetime:
    """The first slot of `first_day` (the hours' start) on the clock of `tz`."""
    hour, minute = map(int, hours_from.split(":"))
    return datetime(first_day.year, first_day.month, first_day.day, hour, minute, tzinfo=ZoneInfo(tz))


# ---- time, the room, the call ------------------------------------------------------------------------

def tasks_until(s: Scene, until: datetime) -> list[str]:
    """Moves the stack's clock to `until` and runs this booking's tasks due by then (booking_callbacks at
    each task's own time); shows what they sent. The kinds run, in order."""
    since = s.seq()
    s.stack.move_clock(until)
    ran = s.stack.run_due_tasks(until, match=s.booking_id)
    s.owner.show_since(since)
    return [name.split("-", 1)[1].removeprefix(s.booking_id + "-").rsplit("-", 1)[0] for name in ran]


def join_link(chat: OwnerChat) -> str:
    """The 'Join' link the bot sent this person last."""
    for message in reversed(chat.messages()):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for b in row:
                if b.get("url"):
                    return b["url"]
    raise LookupError("no link in the chat")


def _livekit(video: Any) -> bool:
    if "infra.local.livekit_double" not in sys.modules:   # never imported: not a LiveKit double
        return False
    return isinstance(video, sys.modules["infra.local.livekit_double"].LiveKitDouble)


def join(s: Scene, chat: OwnerChat, at: datetime) -> dict:
    """`chat`'s person opens their link at `at` (the clock moved there): the video double lets them in
    and sends its signed participant.joined (LiveKit: participant_joined) to booking_callbacks. The
    webhook's delivery. A LiveKit link is the join page's, with the access token in ``token``."""
    s.stack.move_clock(at)
    link = join_link(chat)
    if _livekit(s.video):
        s.video.join(urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["token"][0], at=at.timestamp())
    else:
        s.video.join(link, at=at.timestamp())
    return s.video.webhooks_sent[-1]


def leave_all(s: Scene, at: datetime) -> None:
    s.stack.move_clock(at)
    room = f"tp-{s.booking_id}"
    if _livekit(s.video):
        for identity in list(s.video.participants.get(room, {})):
            s.video.leave(room, identity, at=at.timestamp())
        return
    for p in s.video.present(room):
        s.video.leave(p["session_id"], at=at.timestamp())


# ---- after the call ----------------------------------------------------------------------------------

def conclude(s: Scene, summary: str, recommendations: str, follow_up_days: int, verdict: str = "r") -> Turn:
    """The vet's conclusion from the button on the booking message: summary, recommendations, a follow-up
    in `follow_up_days` (0: none), their word on the AI's answer when the booking came from a photo check
    (r right, w wrong, x cannot tell), then Send."""
    vet = s.vet
    vet.press(data=f"cn:w:{s.booking_id}")
    vet.send(summary)
    vet.send(recommendations)
    vet.press(data=f"cn:f:{follow_up_days}")
    if any(d.startswith("cn:v:") for _, d in vet.buttons()):
        vet.press(data=f"cn:v:{verdict}")
    return vet.press(data="cn:s")


def conclusion_message(s: Scene) -> dict:
    """The conclusion as the owner got it: the first message of the consultation with the owner's
    buttons (the stars; after rating, the comment and 'write to the vet')."""
    return next(m for m in s.owner.messages() if any(d.startswith("cr:") and d.split(":")[2] == s.booking_id
                                                     for _, d in s.owner.buttons(m) if d.count(":") >= 2))


def rate(s: Scene, stars: int, comment: str | None = None, keep_label: bool | None = None) -> Turn:
    """The owner answers the label question (when asked), gives stars and, if given, a comment."""
    owner = s.owner
    if keep_label is not None and any(d.startswith("lc:") for m in owner.messages()[-3:] for _, d in owner.buttons(m)):
        owner.press(data=f"lc:{'y' if keep_label else 'n'}:{s.booking_id}")
    turn = owner.press(data=f"cr:r:{s.booking_id}:{stars}")
    if comment:
        owner.press(data=f"cr:c:{s.booking_id}")
        turn = owner.send(comment)
    return turn


def relayed(chat: OwnerChat, booking_id: str) -> dict:
    """The newest message of the bot about this consultation in `chat` that a reply goes back from."""
    marks = (f"cr:w:{booking_id}", f"cn:w:{booking_id}", f"cr:r:{booking_id}:")
    return next(m for m in reversed(chat.messages())
                if any(d.startswith(marks) for _, d in chat.buttons(m)))


# ---- cancelling -----------------------------------------------------------------------------------------

def cancel(s: Scene) -> Turn:
    """The owner cancels the newest booking from /bookings (what comes back is shown before the yes)."""
    owner = s.owner
    owner.send("/bookings")
    owner.press(data=f"bk:c:{s.booking_id}")
    return owner.press(data=f"bk:cy:{s.booking_id}")
