"""Demo vets for the local stack and the demo, made through the same use cases as real ones
(services.vets.create_demo_vet: apply -> an ops approval -> hours published), marked demo=True.

Only ever against emulators (infra/ops.py refuses without FIRESTORE_EMULATOR_HOST): the ids are made up.
"""
from __future__ import annotations

import io
from datetime import datetime

from shared.domain.schedule import Schedule, parse_hours
from shared.domain.vets import Vet
from shared.services import vets as vet_service

WEEKDAYS = parse_hours("09:00-13:00, 14:00-18:00")

DEMO_VETS = (
    (910000001, {"full_name": "Анна Соколова (демо)", "city": "Москва", "education": "МГАВМиБ, 2011",
                 "species": ["cat", "dog"], "areas": ["general", "dermatology"], "experience_years": 13,
                 "languages": ["ru", "en"], "bio": "Терапевт и дерматолог: кожа, аллергии, зуд у кошек и собак.",
                 "price_kopecks": 1500_00, "timezone": "Europe/Moscow"}),
    (910000002, {"full_name": "Илья Ким (демо)", "city": "Новосибирск", "education": "НГАУ, 2016",
                 "species": ["cat", "dog", "rodent"], "areas": ["general", "ophthalmology"], "experience_years": 8,
                 "languages": ["ru"], "bio": "Офтальмолог: глаза, веки, слёзотечение.",
                 "price_kopecks": 1200_00, "timezone": "Asia/Novosibirsk"}),
    (910000003, {"full_name": "Dana Omarova (demo)", "city": "Алматы", "education": "KazNAU, 2014",
                 "species": ["bird", "reptile", "other"], "areas": ["exotics", "nutrition"], "experience_years": 10,
                 "languages": ["ru", "kk", "en"], "bio": "Exotic pets: birds, reptiles, their diet and housing.",
                 "price_kopecks": 2000_00, "timezone": "Asia/Almaty"}),
)


def portrait_jpeg(seed: int) -> bytes:
    """A plain generated picture, cleaned like any uploaded photo (no real person's face)."""
    from PIL import Image, ImageDraw

    from shared.adapters.images import clean_photo

    img = Image.new("RGB", (480, 480), (90 + seed * 40 % 120, 140, 170))
    draw = ImageDraw.Draw(img)
    draw.ellipse((150, 80, 330, 260), fill=(235, 210, 190))
    draw.rectangle((120, 280, 360, 480), fill=(250, 250, 250))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85)
    return clean_photo(out.getvalue()).data


async def seed(vets, photos, ops_id: int, ops_ids, now: datetime) -> list[Vet]:
    """Creates the demo vets that do not exist yet; returns all of them."""
    made = []
    for n, (vet_id, profile) in enumerate(DEMO_VETS):
        schedule = Schedule(profile["timezone"], weekly={day: WEEKDAYS for day in range(5)})
        made.append(await vet_service.create_demo_vet(vets, photos, vet_id, profile, portrait_jpeg(n), schedule,
                                                      ops_id, ops_ids, now))
    return made
