"""People's roles: owner (everyone), vet (once verified), ops (an allow-list in configuration).

Pure: who someone is follows from their Telegram id, the ops allow-list (Settings.ops_user_ids, from
OPS_USER_IDS) and the status of their `vets/{telegram id}` document, if any. Two-party records check
participants in the services; a role says what kind of screens and actions a person may reach at all.
"""
from __future__ import annotations

from collections.abc import Collection
from enum import Enum

from shared.domain.vets import VetStatus


class Role(str, Enum):
    OWNER = "owner"   # everyone who uses the bot (their pets, diary, bookings)
    VET = "vet"       # verified by ops; a paused vet is still one, a suspended or rejected one is not
    OPS = "ops"       # operations staff: verify vets, handle disputes and refunds


# The vet statuses in which a person acts as a vet (sees their patients, consults). Applied: not yet;
# rejected or suspended: no longer.
VET_STATUSES = frozenset({VetStatus.VERIFIED, VetStatus.ACTIVE, VetStatus.PAUSED})


def is_ops(user_id: int | None, ops_ids: Collection[int]) -> bool:
    return user_id is not None and user_id in ops_ids


def is_vet(vet_status: VetStatus | str | None) -> bool:
    """``vet_status``: the status of the person's vets/{id} document (or its stored value), None for none."""
    if vet_status is None:
        return False
    try:
        return VetStatus(vet_status) in VET_STATUSES
    except ValueError:  # a value this code does not know grants nothing
        return False


def roles_of(user_id: int, ops_ids: Collection[int], vet_status: VetStatus | str | None = None) -> frozenset[Role]:
    roles = {Role.OWNER}
    if is_vet(vet_status):
        roles.add(Role.VET)
    if is_ops(user_id, ops_ids):
        roles.add(Role.OPS)
    return frozenset(roles)
