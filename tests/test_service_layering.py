"""Services return data; the bot layer renders it (texts, buttons, callback codes), so the Mini App's API can
call the same use cases."""
from __future__ import annotations

import ast
import asyncio
from pathlib import Path

from shared.adapters import images
from shared.domain.photos import Area
from shared.domain.pets import Pet, Species
from shared.i18n import t
from shared.services import triage as svc
from tests.fakes import FakeChat, FakePets, FakePhotoStorage, FakeTriageResults
from tests.test_photo_hostile import jpeg

SERVICES = Path(__file__).resolve().parents[1] / "shared" / "services"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_no_service_renders_or_speaks_telegram():
    for path in SERVICES.glob("*.py"):
        bad = {m for m in _imports(path) if m.startswith(("shared.i18n", "shared.bot", "telegram"))}
        assert not bad, f"{path.name} imports {bad}"


class Notices:
    """A chat that renders nothing: it keeps what the use case said."""

    def __init__(self, files):
        self.files, self.said = files, []

    async def chat_action(self, chat_id):
        pass

    async def download(self, file_id):
        return self.files[file_id]

    async def send(self, chat_id, notice, *, language):
        self.said.append(("send", notice, language))
        return len(self.said)

    async def edit(self, chat_id, message_id, notice, *, language):
        self.said.append(("edit", notice, language))


def _accept(chat, pet_id="rex", storage=None, file_id="ok"):
    pets = FakePets()
    pets.pets[(1, "rex")] = Pet(id="rex", owner_id=1, species=Species.DOG, name="Rex")
    return asyncio.run(svc.accept_photo(pets=pets, records=FakeTriageResults(), storage=storage or FakePhotoStorage(),
                                        chat=chat, clean=images.clean_photo, owner_id=1, chat_id=1, language="en",
                                        pet_id=pet_id, area=Area.EYE, file=svc.IncomingFile(file_id, 100)))


def test_the_intake_tells_the_chat_what_happened_as_data():
    chat = Notices({"ok": jpeg((300, 200)), "junk": b"not an image"})
    assert _accept(chat) is not None
    assert chat.said == [("send", svc.Analysing(), "en")]
    chat.said.clear()
    assert _accept(chat, file_id="junk") is None
    ((how, refused, _),) = chat.said
    assert how == "send" and isinstance(refused, svc.PhotoRefused) and refused.code.startswith("photo.")
    assert (refused.pet_id, refused.area) == ("rex", Area.EYE)
    chat.said.clear()
    assert _accept(chat, pet_id="nope") is None and chat.said == [("send", svc.PetMissing(), "en")]
    chat.said.clear()
    assert _accept(chat, storage=FakePhotoStorage(fail=True)) is None
    assert chat.said[-1] == ("edit", svc.StoreFailed("rex", Area.EYE), "en")


def test_the_bot_layer_renders_a_refusal_with_its_retake_button():
    chat = FakeChat({"junk": b"not an image"})
    _accept(chat, file_id="junk")
    (sent,) = chat.sent
    refused = sent["notice"]
    assert sent["text"] == t("en", refused.code, **refused.params) + "\n\n" + t("en", "triage.how_to_send")
    assert sent["buttons"] == [[(t("en", "triage.btn.retake"), "ph:r:rex:eye")]]
