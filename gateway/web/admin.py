"""Admin API (`/api/v1/admin/...`, `X-Admin-Key`) and its OpenAPI document.

Every route is declared once with its models; the same declaration drives request validation and
`GET /api/v1/openapi.json`. Checks run in a fixed order: throttle (429 after repeated failed keys
from one address), key (401), the key's reach (403: a project key outside its project), project
(404), body (400 for malformed JSON, 422 for a well-formed but invalid one). Who called
(`admin_auth.Caller`) is the audit log's actor; end users' phone numbers are masked in every
answer unless the global key asks for `?reveal=true` (`masking`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import structlog
from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from approvals import operations as approval_ops
from approvals.operations import AlreadyDecided
from gateway.delivery.proactive import send_to_user
from gateway.errors import Conflict, Forbidden, Invalid, NotFound
from gateway.ops import support
from gateway.runtime import Runtime
from gateway.schemas import (
    NAME_PATTERN,
    SENDER_PATTERN,
    AccountCreate,
    AccountOut,
    AccountPatch,
    ApprovalCreate,
    ApprovalDecide,
    ApprovalOut,
    ErrorOut,
    IdentityLinkOut,
    IdentityLinkPut,
    LinkCodeCreate,
    LinkCodeOut,
    MessageCreate,
    MessageOut,
    ProjectCreate,
    ProjectOut,
    ProjectPatch,
    TurnStory,
)
from gateway.storage.api_keys import ApiKeyStore
from gateway.web.admin_auth import GLOBAL, KEY_CACHE_SECONDS, AdminAuth, Caller
from gateway.web.errors import error_response
from gateway.web.masking import masked
from gateway.web.throttle import FailureThrottle
from identity.instructions import link_instructions
from identity.reach import Undeliverable
from identity.store import IdentityError

PREFIX = "/api/v1/admin"
_NAME = re.compile(NAME_PATTERN)
_PARAMS = {"sender": re.compile(SENDER_PATTERN), "id": re.compile(r"^[A-Za-z0-9_.:+-]{1,200}$")}
"""Path parameters that are not slugs (phone numbers, ids)."""
ADMIN_KEY_HEADER = "X-Admin-Key"
log = structlog.get_logger("gateway.admin")


@dataclass
class Call:
    """One admin request after the checks: path parameters, the validated body, and who called."""

    params: dict[str, str]
    body: Any
    query: dict[str, str]
    caller: Caller = GLOBAL


Handler = Callable[[Runtime, Call], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    handler: Handler
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    list_key: str | None = None


ROUTES: list[Route] = []


def route(
    method: str,
    path: str,
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    list_key: str | None = None,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append(
            Route(method, PREFIX + path, summary, handler, body, response, status, list_key)
        )
        return handler

    return register


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


# --- routes -----------------------------------------------------------------------------------
@route("GET", "/projects", "List projects", response=ProjectOut, list_key="projects")
async def list_projects(rt: Runtime, call: Call) -> tuple[int, Any]:
    return 200, {"projects": await rt.store.list_projects()}


@route("POST", "/projects", "Create a project", body=ProjectCreate, response=ProjectOut, status=201)
async def create_project(rt: Runtime, call: Call) -> tuple[int, Any]:
    return 201, await rt.store.create_project(call.body, actor=call.caller.actor)


@route("GET", "/projects/{project}", "Show a project", response=ProjectOut)
async def show_project(rt: Runtime, call: Call) -> tuple[int, Any]:
    return 200, await rt.store.get_project(call.params["project"])


@route(
    "PATCH",
    "/projects/{project}",
    "Change a project's settings",
    body=ProjectPatch,
    response=ProjectOut,
)
async def patch_project(rt: Runtime, call: Call) -> tuple[int, Any]:
    result = await rt.store.update_project(
        call.params["project"],
        call.body,
        actor=call.caller.actor,
        may_move_urls=call.caller.is_global,
    )
    rt.directory.invalidate()
    return 200, result


@route(
    "GET",
    "/projects/{project}/accounts",
    "List channel accounts",
    response=AccountOut,
    list_key="accounts",
)
async def list_accounts(rt: Runtime, call: Call) -> tuple[int, Any]:
    return 200, {"accounts": await rt.store.list_accounts(call.params["project"])}


@route(
    "POST",
    "/projects/{project}/accounts",
    "Add a channel account (secrets write-only)",
    body=AccountCreate,
    response=AccountOut,
    status=201,
)
async def add_account(rt: Runtime, call: Call) -> tuple[int, Any]:
    if not call.caller.is_global and call.body.given().get("api_base_url"):
        raise Forbidden("a project API key cannot set a provider API base URL")
    added = await rt.store.add_account(call.params["project"], call.body, actor=call.caller.actor)
    rt.directory.invalidate()  # a webhook that just missed this name is answered at once
    return 201, added


@route(
    "GET",
    "/projects/{project}/accounts/{channel}/{account}",
    "Show a channel account",
    response=AccountOut,
)
async def show_account(rt: Runtime, call: Call) -> tuple[int, Any]:
    p = call.params
    return 200, await rt.store.get_account(p["project"], p["channel"], p["account"])


@route(
    "PATCH",
    "/projects/{project}/accounts/{channel}/{account}",
    "Change a channel account (rotate its token or secret, enable or disable it)",
    body=AccountPatch,
    response=AccountOut,
)
async def patch_account(rt: Runtime, call: Call) -> tuple[int, Any]:
    p = call.params
    result = await rt.store.update_account(
        p["project"],
        p["channel"],
        p["account"],
        call.body,
        actor=call.caller.actor,
        may_move_urls=call.caller.is_global,
    )
    rt.directory.invalidate()
    return 200, result


@route(
    "DELETE",
    "/projects/{project}/accounts/{channel}/{account}",
    "Remove a channel account",
    status=204,
)
async def remove_account(rt: Runtime, call: Call) -> tuple[int, Any]:
    p = call.params
    await rt.store.remove_account(p["project"], p["channel"], p["account"], actor=call.caller.actor)
    rt.directory.invalidate()
    return 204, None


# --- identity -----------------------------------------------------------------------------------
@route(
    "POST",
    "/projects/{project}/link-codes",
    "Mint a one-time link code for an app user",
    body=LinkCodeCreate,
    response=LinkCodeOut,
    status=201,
)
async def mint_link_code(rt: Runtime, call: Call) -> tuple[int, Any]:
    project, body = call.params["project"], call.body
    code, expires = await rt.identity.mint_code(
        project,
        body.app_user_id,
        actor=call.caller.actor,
        ttl=timedelta(seconds=body.ttl_seconds),
    )
    instructions = await link_instructions(rt.store, rt.directory, project, code)
    return 201, LinkCodeOut(
        code=code, app_user_id=body.app_user_id, expires_at=expires, instructions=instructions
    )


@route(
    "GET",
    "/projects/{project}/identity-links",
    "List identity links (filter with ?app_user_id= and ?channel=)",
    response=IdentityLinkOut,
    list_key="links",
)
async def list_links(rt: Runtime, call: Call) -> tuple[int, Any]:
    links = await rt.identity.list(
        call.params["project"],
        app_user_id=call.query.get("app_user_id"),
        channel=call.query.get("channel"),
    )
    return 200, {
        "links": [IdentityLinkOut.model_validate(link, from_attributes=True) for link in links]
    }


@route(
    "PUT",
    "/projects/{project}/identity-links",
    "Link a channel identity to an app user (409 if linked to another, unless force)",
    body=IdentityLinkPut,
    response=IdentityLinkOut,
)
async def put_link(rt: Runtime, call: Call) -> tuple[int, Any]:
    body = call.body
    link = await rt.identity.link(
        call.params["project"],
        body.channel,
        body.sender,
        body.app_user_id,
        actor=call.caller.actor,
        force=body.force,
    )
    return 200, IdentityLinkOut.model_validate(link, from_attributes=True)


@route(
    "DELETE",
    "/projects/{project}/identity-links/{channel}/{sender}",
    "Unlink a channel identity",
    status=204,
)
async def delete_link(rt: Runtime, call: Call) -> tuple[int, Any]:
    p = call.params
    if not await rt.identity.unlink(
        p["project"], p["channel"], p["sender"], actor=call.caller.actor
    ):
        raise NotFound(f"{p['channel']}:{p['sender']} is not linked")
    return 204, None


@route(
    "POST",
    "/projects/{project}/messages",
    "Send a proactive message to an app user on a linked channel (409 when undeliverable)",
    body=MessageCreate,
    response=MessageOut,
    status=202,
)
async def send_message(rt: Runtime, call: Call) -> tuple[int, Any]:
    body = call.body
    queued = await send_to_user(
        rt.db,
        rt.identity,
        call.params["project"],
        body.app_user_id,
        body.text,
        channel=body.channel,
        actor=call.caller.actor,
    )
    rt.wake_sender()
    return 202, MessageOut(**queued.__dict__)


@route(
    "GET",
    "/projects/{project}/turns/{id}",
    "One turn's story, found by response, trace, request or provider message id",
    response=TurnStory,
)
async def show_turn(rt: Runtime, call: Call) -> tuple[int, Any]:
    project = call.params["project"]
    inbox_id = await support.find(rt.db, call.params["id"], project)
    if inbox_id is None:
        raise NotFound(f"no turn of project {project!r} has the id {call.params['id']!r}")
    return 200, TurnStory(**await support.story(rt.db, inbox_id))


# --- approvals ----------------------------------------------------------------------------------
@route(
    "GET",
    "/projects/{project}/approvals",
    "List approvals (filter `status`: pending, approved, denied, expired; `app_user_id`)",
    response=ApprovalOut,
    list_key="approvals",
)
async def list_approvals(rt: Runtime, call: Call) -> tuple[int, Any]:
    found = await approval_ops.listing(
        rt.store,
        rt.approvals,
        call.params["project"],
        status=call.query.get("status"),
        app_user_id=call.query.get("app_user_id"),
    )
    return 200, {"approvals": found}


@route(
    "POST",
    "/projects/{project}/approvals",
    "Ask an app user to approve an app-owned action on their linked channel (409 when they "
    "cannot be reached)",
    body=ApprovalCreate,
    response=ApprovalOut,
    status=201,
)
async def create_approval(rt: Runtime, call: Call) -> tuple[int, Any]:
    approval = await approval_ops.request_approval(
        rt.store,
        rt.directory,
        rt.identity,
        rt.approvals,
        call.params["project"],
        call.body,
        actor=call.caller.actor,
    )
    return 201, approval


@route("GET", "/projects/{project}/approvals/{id}", "Show an approval", response=ApprovalOut)
async def show_approval(rt: Runtime, call: Call) -> tuple[int, Any]:
    return 200, await approval_ops.show(
        rt.store, rt.approvals, call.params["project"], call.params["id"]
    )


async def _decide(rt: Runtime, call: Call, verdict: Literal["approved", "denied"]) -> Any:
    said = call.body.actor if call.body is not None and call.body.actor else None
    # Who the caller says decided is theirs to say; which key said it is ours.
    actor = f"{said} via {call.caller.via}" if said else call.caller.actor
    return await approval_ops.decide(
        rt.store,
        rt.approvals,
        call.params["project"],
        call.params["id"],
        verdict,
        actor=actor,
        source="api",
    )


@route(
    "POST",
    "/projects/{project}/approvals/{id}/approve",
    "Approve a pending approval (409 `already_decided` when it is not pending)",
    body=ApprovalDecide,
    response=ApprovalOut,
)
async def approve(rt: Runtime, call: Call) -> tuple[int, Any]:
    return 200, await _decide(rt, call, "approved")


@route(
    "POST",
    "/projects/{project}/approvals/{id}/deny",
    "Deny a pending approval (409 `already_decided` when it is not pending)",
    body=ApprovalDecide,
    response=ApprovalOut,
)
async def deny(rt: Runtime, call: Call) -> tuple[int, Any]:
    return 200, await _decide(rt, call, "denied")


# --- wiring -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Gate:
    """What every admin route checks before its handler: the key and the failure throttle."""

    auth: AdminAuth
    throttle: FailureThrottle

    async def caller(self, request: web.Request) -> Caller | web.Response:
        """The request's caller, or the 429 / 401 to answer. Failures are logged with the
        client's address and the path, never with what was sent as the key."""
        client = request.remote or "-"
        wait = self.throttle.retry_after(client)
        if wait is not None:
            return error_response(
                429,
                "too_many_requests",
                f"too many requests with a missing or wrong {ADMIN_KEY_HEADER} from this "
                f"address; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        caller = await self.auth.caller(request.headers.get(ADMIN_KEY_HEADER, ""))
        if caller is None:
            failures = self.throttle.failed(client)
            log.warning(
                "admin.unauthorized",
                client=client,
                method=request.method,
                path=request.path,
                header_present=ADMIN_KEY_HEADER in request.headers,
            )
            if failures == self.throttle.limit:
                log.warning("admin.throttled", client=client, seconds=self.throttle.window)
            return error_response(401, "unauthorized", f"missing or wrong {ADMIN_KEY_HEADER}")
        return caller


def _wrap(
    gate: Gate, runtime: Runtime, spec: Route
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        caller = await gate.caller(request)
        if isinstance(caller, web.Response):
            return caller
        params = dict(request.match_info)
        if not caller.may_act_on(params.get("project")):
            log.warning(
                "admin.forbidden", key_id=caller.key_id, method=request.method, path=request.path
            )
            return error_response(
                403,
                "forbidden",
                f"this API key is valid only under {PREFIX}/projects/{caller.project}/",
            )
        if not all(_PARAMS.get(name, _NAME).fullmatch(value) for name, value in params.items()):
            # Names are slugs; anything else cannot exist (and must not reach the database).
            return error_response(404, "not_found", "no such resource")
        if "project" in params:
            try:
                await runtime.store.project_info(params["project"])
            except NotFound as exc:
                return error_response(404, "project_not_found", str(exc))
        body: Any = None
        if spec.body is not None:
            raw = await request.read()
            try:
                # A body whose fields are all optional may be left out (approve / deny).
                optional = not any(f.is_required() for f in spec.body.model_fields.values())
                data = json.loads(raw) if raw.strip() or not optional else {}
            except (ValueError, RecursionError) as exc:
                # ValueError covers JSONDecodeError, bad UTF-8 and over-long integer literals;
                # RecursionError absurdly deep nesting. All are the client's body, never a 500.
                return error_response(400, "malformed_json", f"body is not JSON: {exc}")
            try:
                body = spec.body.model_validate(data)
            except ValidationError as exc:
                details = [
                    {"loc": list(e["loc"]), "message": e["msg"]}
                    for e in exc.errors(include_url=False, include_input=False)
                ]
                return error_response(422, "invalid_body", "the body is not valid", details)
        query = dict(request.query)
        if query.get("reveal", "false") not in ("true", "false"):
            return error_response(422, "invalid_query", "reveal must be true or false")
        try:
            status, payload = await spec.handler(runtime, Call(params, body, query, caller))
        except Forbidden as exc:
            return error_response(403, "forbidden", str(exc))
        except NotFound as exc:
            return error_response(404, "not_found", str(exc))
        except AlreadyDecided as exc:
            return error_response(409, "already_decided", str(exc))
        except Conflict as exc:
            return error_response(409, "conflict", str(exc))
        except Invalid as exc:
            return error_response(422, "invalid_body", str(exc))
        except IdentityError as exc:
            status = 404 if exc.kind == "not_found" else 409
            return error_response(status, exc.kind, exc.message)
        except Undeliverable as exc:
            return error_response(409, exc.code, exc.message)
        if status == 204:
            return web.Response(status=204)
        if not (caller.is_global and query.get("reveal") == "true"):
            payload = masked(payload)
        return web.json_response(_dump(payload), status=status)

    return handle


def add_routes(app: web.Application, runtime: Runtime) -> None:
    settings = runtime.settings
    throttle = FailureThrottle(limit=settings.admin_auth_failures_per_minute, window=60.0)
    gate = Gate(AdminAuth(settings, ApiKeyStore(runtime.db)), throttle)
    for spec in ROUTES:
        app.router.add_route(spec.method, spec.path, _wrap(gate, runtime, spec))
    document = openapi_document()

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/api/v1/openapi.json", openapi)


def openapi_document() -> dict[str, Any]:
    models = {m for r in ROUTES for m in (r.body, r.response) if m is not None} | {ErrorOut}
    _, schemas = models_json_schema(
        [
            (m, "validation" if m in {r.body for r in ROUTES} else "serialization")
            for m in sorted(models, key=lambda m: m.__name__)
        ],
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, Any] = {}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for r in ROUTES:
        op: dict[str, Any] = {
            "summary": r.summary,
            "security": [{"adminKey": []}],
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in _path_params(r.path)
            ],
            "responses": {
                "401": {
                    "description": "Missing, wrong or revoked X-Admin-Key",
                    "content": error,
                },
                "403": {
                    "description": "A project API key outside its project (project-less routes "
                    "take the global key), or changing a base URL with a project key",
                    "content": error,
                },
                "404": {"description": "Unknown project or resource", "content": error},
                "429": {
                    "description": "Too many requests with a missing or wrong X-Admin-Key from "
                    "this address; retry after `Retry-After` seconds",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                    "content": error,
                },
            },
        }
        if r.response is not None:
            op["responses"].setdefault(
                "422", {"description": "Invalid body or `reveal`", "content": error}
            )
        if r.body is not None:
            op["requestBody"] = {
                "required": any(f.is_required() for f in r.body.model_fields.values()),
                "content": {"application/json": {"schema": _ref(r.body)}},
            }
            op["responses"]["400"] = {"description": "Malformed JSON", "content": error}
            if r.method in ("POST", "PUT"):
                op["responses"]["409"] = {
                    "description": "Conflict: already exists, linked to another app user, "
                    "cannot be delivered (no linked channel, opted out, outside the window), or "
                    "the approval is already decided",
                    "content": error,
                }
            if r.method == "PATCH":
                op["responses"]["409"] = {
                    "description": "Conflicts with the resource (e.g. a field that does not "
                    "apply to this account's channel)",
                    "content": error,
                }
            op["responses"]["422"] = {"description": "Invalid body", "content": error}
        if r.response is None:
            op["responses"][str(r.status)] = {"description": "Done"}
        else:
            schema: dict[str, object] = dict(_ref(r.response))
            if r.list_key:
                schema = {
                    "type": "object",
                    "properties": {r.list_key: {"type": "array", "items": schema}},
                }
            op["responses"][str(r.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": schema}},
            }
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Channel gateway admin API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "adminKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": ADMIN_KEY_HEADER,
                    "description": _KEYS_DESCRIPTION,
                }
            },
        },
    }


_KEYS_DESCRIPTION = (
    "Either the operators' global key (GATEWAY_ADMIN_KEY: every route, including creating "
    "projects) or a project API key (`gwk_...`, from `gateway keys create --project NAME`: only "
    "routes under /api/v1/admin/projects/NAME/, and it cannot change a core or provider base "
    "URL; 403 otherwise). Revoked keys stop working within "
    f"{KEY_CACHE_SECONDS:g} seconds. Repeated failures from one address answer 429. End "
    "users' phone numbers in answers are masked; `?reveal=true` with the global key shows them "
    "(a project key asking still gets them masked)."
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
