"""Ops on the command line, through the same use cases as the bot's ops buttons (services.vets,
services.cancellations, services.payments).

    python -m infra.ops vets pending                       applications waiting for a decision
    python -m infra.ops vets show ID [--save-documents DIR] one vet, their decisions; the photos saved to DIR
    python -m infra.ops vets approve ID [--as OPS_ID]
    python -m infra.ops vets reject ID --reason TEXT [--as OPS_ID]
    python -m infra.ops vets suspend ID --reason TEXT [--as OPS_ID]
    python -m infra.ops vets reinstate ID [--as OPS_ID]
    python -m infra.ops vets demo                          demo vets (emulators only)
    python -m infra.ops vets rebuild-directory             the vet directory (owners' vet lists) written
                                                           afresh from the vets' records
    python -m infra.ops payments list [--since YYYY-MM-DD] [--status confirmed|refunded|refund_pending]
                                                           the ledger, a charge a line, newest first, and
                                                           its totals per currency (infra/ops_payments.py)
    python -m infra.ops payments reconcile [--settle]      charges with neither a booking nor a refund
    python -m infra.ops bookings show ID                   a booking: status, vet, owner, start (UTC), price,
                                                           its charge and the ledger's status of it
    python -m infra.ops bookings cancel ID --reason TEXT [--as OPS_ID]
                                                           as the bot's ops "Cancel with refund": a full
                                                           refund, the time freed, both people told
                                                           (infra/ops_bookings.py)

Acts as a configured ops id (OPS_USER_IDS; --as picks one when there are several): the service refuses
anyone else. Reads GOOGLE_CLOUD_PROJECT and PHOTOS_BUCKET, and reaches the local stack's emulators through
FIRESTORE_EMULATOR_HOST / STORAGE_EMULATOR_HOST (or production with the operator's own credentials). With
TELEGRAM_BOT_TOKEN (and TELEGRAM_API_BASE) set, the vet is told of the decision as from the ops chat (and
the owner and the vet of a cancelled booking, as the bot tells them).
Exit codes: 0 done, 1 refused (the reason is printed), 2 usage or configuration.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from infra import ops_bookings, ops_payments
from shared.bootstrap import OpsServices, ops_services
from shared.config import TELEGRAM_API, parse_user_ids
from shared.domain.pets import InvalidInput
from shared.domain.vets import Action, Vet
from shared.services import vets as vet_service
from shared.services.unit_of_work import StaleUpdate

DECISIONS = {"approve": Action.APPROVE, "reject": Action.REJECT, "suspend": Action.SUSPEND,
             "reinstate": Action.REINSTATE}


class Refused(Exception):
    """Printed, exit code 1."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infra.ops", description="Telemed-Pet operations")
    area = p.add_subparsers(dest="area", required=True)
    vets = area.add_parser("vets", help="vet applications and decisions").add_subparsers(dest="command", required=True)
    vets.add_parser("pending", help="applications waiting for a decision")
    show = vets.add_parser("show", help="one vet: profile, status, decisions, documents")
    show.add_argument("vet_id", type=int)
    show.add_argument("--save-documents", metavar="DIR", help="write the document photos and the portrait there")
    for name in DECISIONS:
        cmd = vets.add_parser(name, help=f"{name} a vet")
        cmd.add_argument("vet_id", type=int)
        cmd.add_argument("--reason", help="why (required to reject or suspend; the vet sees it)")
        cmd.add_argument("--as", dest="as_id", type=int, help="the ops id to act as (one of OPS_USER_IDS)")
    demo = vets.add_parser("demo", help="create the demo vets (emulators only)")
    demo.add_argument("--as", dest="as_id", type=int)
    vets.add_parser("rebuild-directory", help="write the vet directory (owners' vet lists) afresh from the records")
    for cmd in vets.choices.values():
        cmd.add_argument("--lang", default="en", choices=("en", "ru"), help="language of the output")
    ops_payments.add_parser(area)  # payments list|reconcile: infra/ops_payments.py
    ops_bookings.add_parser(area)  # bookings show|cancel: infra/ops_bookings.py
    return p


def acting_ops(as_id: int | None, ops_ids: frozenset[int]) -> int:
    """The ops id to act as; the service checks it is on the list (so does this, to say so early)."""
    if as_id is not None:
        return as_id
    if len(ops_ids) == 1:
        return next(iter(ops_ids))
    print("OPS_USER_IDS names no ops id, or several: pass --as OPS_ID", file=sys.stderr)
    raise SystemExit(2)


async def run(args, services: OpsServices, ops_ids: frozenset[int], out=sys.stdout) -> int:
    from shared.bot import vet_messages

    lang = args.lang
    if args.command == "pending":
        pending = await vet_service.pending(services.vets)
        for vet in pending:
            print(f"{vet.id}\t{vet.full_name}\t{vet.city}\t{vet.decisions[-1].at:%Y-%m-%d %H:%M}Z"
                  + ("\tdemo" if vet.demo else ""), file=out)
        if not pending:
            print("no applications waiting", file=out)
        return 0
    if args.command == "demo":
        if not os.environ.get("FIRESTORE_EMULATOR_HOST"):
            raise Refused("demo vets are for the local stack only (FIRESTORE_EMULATOR_HOST is not set)")
        from infra.local.demo_vets import seed

        for vet in await seed(services.vets, services.photos, acting_ops(args.as_id, ops_ids), ops_ids,
                              services.clock()):
            print(f"{vet.id}\t{vet.full_name}\t{vet.status.value}", file=out)
        return 0
    if args.command == "rebuild-directory":
        for species, (listed, size) in (await vet_service.rebuild_directory(services.vets)).items():
            print(f"{species.value}\t{listed} vets\t{size} bytes ({size / 1048576:.1%} of 1 MiB)", file=out)
        return 0
    vet = await _vet(services, args.vet_id)
    if args.command == "show":
        print(vet_messages.profile(lang, vet, for_ops=True), file=out)
        for decision in vet.decisions:
            print(vet_messages.decision(lang, decision), file=out)
        for name in vet.documents:
            print(f"document: {name}", file=out)
        print(f"portrait: {vet.portrait}", file=out)
        if args.save_documents:
            folder = Path(args.save_documents)
            folder.mkdir(parents=True, exist_ok=True)
            for n, name in enumerate((*vet.documents, vet.portrait), 1):
                target = folder / (f"{vet.id}-document-{n}.jpg" if n <= len(vet.documents) else f"{vet.id}-portrait.jpg")
                target.write_bytes(await vet_service.photo(services.photos, vet, name))
                print(f"saved {target}", file=out)
        return 0
    by = acting_ops(args.as_id, ops_ids)
    try:
        decided = await vet_service.decide(services.vets, vet.id, DECISIONS[args.command], by, services.clock(),
                                           ops_ids, args.reason)
    except vet_service.NotOps:
        raise Refused(f"{by} is not on the ops list (OPS_USER_IDS): nothing changed") from None
    except StaleUpdate:
        raise Refused("the vet changed meanwhile (another decision?): look again with `show`") from None
    except InvalidInput as err:
        raise Refused(vet_messages.error(lang, err)) from None
    print(f"{decided.id}\t{vet_messages.status(lang, decided)}\t"
          f"{vet_messages.decision(lang, decided.last_decision)}", file=out)
    await _tell_vet(services, decided)
    return 0


async def _vet(services: OpsServices, vet_id: int) -> Vet:
    try:
        return await vet_service.get(services.vets, vet_id)
    except vet_service.VetNotFound:
        raise Refused(f"no vet {vet_id}") from None


async def _tell_vet(services: OpsServices, vet: Vet) -> None:
    token = os.environ.get("TELEGRAM_BOT_TOKEN")
    if not token:
        return
    from telegram import Bot

    from shared.bot.handlers.vet_ops import tell_vet

    base = os.environ.get("TELEGRAM_API_BASE", TELEGRAM_API).rstrip("/")
    async with Bot(token, base_url=f"{base}/bot") as bot:
        await tell_vet(bot, services.owners, vet)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.area == "payments":
        return asyncio.run(ops_payments.run(args))
    try:
        ops_ids = parse_user_ids(os.environ.get("OPS_USER_IDS", ""), "OPS_USER_IDS")
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 2
    if args.area == "bookings":
        return asyncio.run(ops_bookings.run(args, ops_ids, acting_ops))
    try:
        return asyncio.run(_main(args, ops_ids))
    except Refused as err:
        print(err, file=sys.stderr)
        return 1


async def _main(args, ops_ids: frozenset[int]) -> int:
    # the async Firestore client is made on the loop that uses it
    services = ops_services(os.environ.get("GOOGLE_CLOUD_PROJECT", "telemed-pet-local"),
                            os.environ.get("PHOTOS_BUCKET", "telemed-pet-photos"))
    return await run(args, services, ops_ids)


if __name__ == "__main__":
    sys.exit(main())
