"""The xAPI endpoint (the LRS subset learning platforms speak), a Starlette app on hypercorn/trio.

    POST /xapi/statements                  one statement or a list -> 200 [ids]
    PUT  /xapi/statements?statementId=ID   one statement -> 204
    GET  /xapi/statements?statementId=ID   the stored statement, with the oracle's state
    GET  /xapi/about                       {"version": ["1.0.3"]}
    GET  /azora/status                     counts by state and the last errors

Every statements request needs HTTP Basic auth of a configured platform (401) and the header
`X-Experience-API-Version: 1.0.x` (400). Refusals are JSON `{"error": reason}` and change nothing.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time
from typing import Any, Callable

import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oracle.xapi import (
    MAX_STATEMENT_BYTES, XAPI_VERSION, StatementError, complete_statement, normalize_statement_id,
)

logger = logging.getLogger("azora.oracle.http")
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_BATCH = 1000
VERSION_HEADERS = {"X-Experience-API-Version": XAPI_VERSION}


def error(status: int, reason: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers={**VERSION_HEADERS, **headers})


def is_authorized(header: str | None, platforms: Any) -> bool:
    """HTTP Basic credentials of one of the configured platforms (constant-time compare)."""
    if not header or not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return any(hmac.compare_digest(user, p.username) & hmac.compare_digest(password, p.password)
               for p in platforms)


def check_request(request: Request, platforms: Any) -> Response | None:
    if not is_authorized(request.headers.get("authorization"), platforms):
        return error(401, "missing or wrong HTTP Basic credentials", **{"WWW-Authenticate": 'Basic realm="xAPI"'})
    version = request.headers.get("x-experience-api-version")
    if version is None or not version.startswith("1.0"):
        return error(400, f"header X-Experience-API-Version: {XAPI_VERSION} is required")
    return None


async def read_json(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise StatementError(400, f"request body over {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StatementError(400, f"malformed JSON: {exc}") from None


def build_app(oracle: Any, *, on_publish: Callable[[Any], None]) -> Starlette:
    from oracle.service import Outbox

    platforms = oracle.config.platforms

    async def ingest(statements: list[Any], statement_id: str | None) -> list[str]:
        now = time.time()
        completed = [complete_statement(s, statement_id, now) for s in statements]
        for statement in completed:
            if len(json.dumps(statement)) > MAX_STATEMENT_BYTES:
                raise StatementError(400, f"statement over {MAX_STATEMENT_BYTES} bytes")
        outbox = Outbox()
        ids = await trio.to_thread.run_sync(oracle.accept_statements, completed, outbox)
        on_publish(outbox)
        return ids

    async def statements(request: Request) -> Response:
        refused = check_request(request, platforms)
        if refused is not None:
            return refused
        try:
            if request.method == "GET":
                return await get_statement(request)
            body = await read_json(request)
            if request.method == "PUT":
                raw_id = request.query_params.get("statementId")
                if raw_id is None:
                    raise StatementError(400, "PUT needs the statementId parameter")
                await ingest([body], normalize_statement_id(raw_id))
                return Response(status_code=204, headers=VERSION_HEADERS)
            batch = body if isinstance(body, list) else [body]
            if not batch or len(batch) > MAX_BATCH:
                raise StatementError(400, f"a POST carries 1 to {MAX_BATCH} statements")
            return JSONResponse(await ingest(batch, None), headers=VERSION_HEADERS)
        except StatementError as exc:
            return error(exc.status, exc.reason)
        except Exception as exc:  # the chain is unreachable, say: nothing was stored
            logger.exception("statement request failed")
            return error(503, f"oracle cannot process statements now: {exc}")

    async def get_statement(request: Request) -> Response:
        raw_id = request.query_params.get("statementId")
        if raw_id is None:
            raise StatementError(400, "GET needs the statementId parameter")
        view = await trio.to_thread.run_sync(oracle.statement_view, normalize_statement_id(raw_id))
        if view is None:
            return error(404, f"no statement {raw_id}")
        return JSONResponse(view, headers=VERSION_HEADERS)

    async def about(_: Request) -> Response:
        return JSONResponse({"version": [XAPI_VERSION], "extensions": {}}, headers=VERSION_HEADERS)

    async def status(request: Request) -> Response:
        if not is_authorized(request.headers.get("authorization"), platforms):
            return error(401, "missing or wrong HTTP Basic credentials")
        return JSONResponse(await trio.to_thread.run_sync(oracle.status))

    return Starlette(routes=[
        Route("/xapi/statements", statements, methods=["GET", "POST", "PUT"]),
        Route("/xapi/about", about, methods=["GET"]),
        Route("/azora/status", status, methods=["GET"]),
    ])


async def serve(app: Starlette, host: str, port: int, *,
                task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 1
    await hypercorn_serve(app, config, task_status=task_status)  # type: ignore[arg-type]
