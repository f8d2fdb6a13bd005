"""The Mini App API's door (the contract: shared/miniapp/API.md): the request and its answers, the route
table, and the dispatch that authenticates every `/api/` request by Telegram initData (shared.miniapp.init_data)
before anything is read; its user is the acting person (Who). The endpoints live in one module per feature
(pets_api, diary_api, consult_api, vet_api), each registering its routes; shared.miniapp.api composes them."""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from shared.domain.owners import Owner
from shared.domain.roles import is_ops
from shared.i18n import t
from shared.miniapp import init_data
from shared.services.unit_of_work import OwnerGone, StaleUpdate

if TYPE_CHECKING:
    from shared.bootstrap import MiniAppServices

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
ID = r"[A-Za-z0-9]{1,40}"


class ApiError(Exception):
    def __init__(self, status: int, error: str, *, field: str | None = None, key: str | None = None,
                 params: dict | None = None, message: str | None = None):
        super().__init__(error)
        self.status, self.error, self.field, self.key, self.params = status, error, field, key, params or {}
        self.message = message  # the text as the bot words it, when it is more than the key with its params


NOT_FOUND = ApiError(404, "not_found")
MAX_PHOTO = 20 * 1024 * 1024     # an upload's body (the photo itself is checked like the chat's: photo.too_big)


@dataclass(frozen=True)
class FileBody:
    """An answer that is a file, not JSON (the PDF export)."""

    data: bytes
    content_type: str
    filename: str


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]          # lower-case names
    query: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        if len(self.body) > MAX_BODY:
            raise ApiError(400, "bad_json")
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "bad_json") from None


@dataclass
class Who:
    """The acting person of one request: their Telegram user, owner record (None: never agreed) and roles."""

    user: init_data.WebAppUser
    owner: Owner | None
    ops: bool
    language: str
    _vet: Any = ...

    @property
    def id(self) -> int:
        return self.user.id


Handler = Callable[..., Awaitable[tuple[int, dict]]]
AddRoute = Callable[..., None]   # Router.route: (method, pattern, handler, owner=True)


class Router:
    """The route table and the door; one instance per function instance, `handle` called on its event loop."""

    def __init__(self, services: MiniAppServices, *, bot_token: str, ops_ids: frozenset[int], max_age: int,
                 wall_clock: Callable[[], float] = time.time):
        self.s = services
        self.bot_token = bot_token
        self.ops_ids = ops_ids
        self.max_age = max_age
        self.wall_clock = wall_clock    # initData's age is real time, not the stack's moved clock
        self.routes: list[tuple[str, re.Pattern, Handler, bool]] = []

    def route(self, method: str, pattern: str, handler: Handler, owner: bool = True) -> None:
        self.routes.append((method, re.compile(pattern + "/?$"), handler, owner))

    # ---- the door ---------------------------------------------------------------------------------------
    async def handle(self, req: Request) -> tuple[int, dict]:
        """(status, JSON body) for an /api/ request."""
        matched = [(m, rx.match(req.path), h, own) for m, rx, h, own in self.routes]
        matched = [x for x in matched if x[1]]
        if not matched:
            return 404, {"error": "not_found"}
        # the check first: without valid initData nothing is read, not even whether the route exists for
        # the method
        try:
            data = init_data.validate(init_data.from_header(req.headers.get("authorization")), self.bot_token,
                                      max_age=self.max_age, now=self.wall_clock())
        except init_data.InitDataError as err:
            log.info("mini app request refused: %s", err.reason)
            return 401, {"error": "unauthorized"}
        for method, match, handler, needs_owner in matched:
            if method == req.method:
                break
        else:
            return 405, {"error": "method_not_allowed"}
        who = Who(data.user, None, is_ops(data.user.id, self.ops_ids),
                  "en" if (data.user.language_code or "").startswith("en") else "ru")
        try:
            who.owner = await self.s.owners.get(who.id)
            if who.owner is not None and not who.owner.has_consented:
                who.owner = None
            if who.owner is not None:
                who.language = who.owner.language
            if needs_owner and who.owner is None:
                raise ApiError(403, "not_registered")
            return await handler(who, req, **match.groupdict())
        except ApiError as err:
            return err.status, self._error(who, err)
        except OwnerGone:
            return 410, {"error": "gone"}
        except StaleUpdate:
            return 409, {"error": "conflict"}

    def _error(self, who: Who, err: ApiError) -> dict:
        body: dict = {"error": err.error}
        if err.field:
            body["field"] = err.field
        if err.key and err.message:
            body.update(key=err.key, message=err.message)
        elif err.key:
            body["key"] = err.key
            try:
                params = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in err.params.items()}
                body["message"] = t(who.language, err.key, **params)
            except Exception:  # noqa: BLE001 - a key without a catalog entry: the key says it
                body["message"] = err.key
        return body
