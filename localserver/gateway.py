"""An aiohttp server that does locally what API Gateway and CloudFront do in AWS.

- `/` serves web/ and a config.json pointing at this server;
- `/api/...` runs the Chalice REST routes through Chalice's LocalGateway;
- `/ws` is a WebSocket endpoint that builds the events API Gateway sends and calls the
  same Chalice handlers, routing on the frame's `action`;
- `/@connections/{id}` is the management API that the handlers' boto3 client posts to;
  as API Gateway does, it buffers frames per connection and answers without waiting for the
  client to read them; a client that stops reading is disconnected when its buffer overflows
  or a frame waits too long, and then the management API answers 410 Gone for it;
- `/api/openapi.json` serves docs/openapi.json (made by `python -m localserver.openapi --write`).

The management API takes only what API Gateway takes: SigV4-signed requests (service
execute-api) made with the local server's credentials, as the app's boto3 client makes them;
and none carrying a browser's `Origin` (a web page may send a simple cross-origin POST).

Local-only extension, not in AWS's management API: `GET /@connections` lists the open
connections (id, username, connectedAt) to loopback callers, so tests can close a
chosen client's connection from the server side with `DELETE /@connections/{id}`.
"""
import asyncio
import base64
import hashlib
import hmac
import importlib
import json
import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiohttp import WSCloseCode, WSMsgType, web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from chalice.config import Config
from chalice.local import LocalGateway, LocalGatewayException

from infra import stack

from .events import lambda_context, websocket_event

log = logging.getLogger("localserver")
STAGE = "local"
API_ID = "local"
FRAME_LIMIT = 32 * 1024
BODY_LIMIT = 1024 * 1024
# API Gateway's longest URL (path and query); aiohttp's parser is given room past it (REQUEST_LINE_LIMIT)
# so that a longer one reaches the API and gets the contract's JSON error rather than aiohttp's text.
URL_LIMIT = 8192
REQUEST_LINE_LIMIT = 64 * 1024
# API Gateway does not publish its per-connection buffer: these bound what a client that
# stopped reading costs (memory, and a writer waiting on its socket) without touching
# readers that keep up.
OUTBOX_BYTES = 1024 * 1024
SEND_TIMEOUT = 5.0
_CLOSE = object()  # in an outbox: close after the frames before it
OPENAPI_DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
LOOPBACK = ("127.0.0.1", "::1")
# What the local server's boto3 session signs with (moto takes any credentials).
LOCAL_CREDENTIALS = Credentials("local", "local", "local")
MANAGEMENT_REGION = "us-east-1"
SIGNATURE_MAX_AGE = timedelta(minutes=5)
_AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/,]+)/(\d{8})/([^/,]+)/([^/,]+)/aws4_request, ?"
                            r"SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_connection_id() -> str:
    # API Gateway's ids look like this: 12 base64 characters ending in '='.
    return base64.b64encode(os.urandom(8)).decode()[:11] + "="


def _token_subject(token: str | None) -> str | None:
    """The `sub` of a token that $connect has just accepted (so it is genuine), for the listing."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("sub")
    except (AttributeError, IndexError, ValueError):
        return None


def signature_problem(method: str, url: str, headers, body: bytes, credentials: Credentials,
                      now: datetime) -> str | None:
    """Why a request is not SigV4-signed for the management API with `credentials` (API
    Gateway's own message), or None. The signature is recomputed by botocore's signer from the
    headers the caller says it signed, with the caller's timestamp."""
    match = _AUTHORIZATION.fullmatch(headers.get("Authorization", ""))
    if not match:
        return "Missing Authentication Token"
    access_key, day, region, service, signed_names, signature = match.groups()
    timestamp = headers.get("X-Amz-Date", "")
    try:
        signed_at = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return "Authorization header requires existence of a 'X-Amz-Date' header."
    if abs(now - signed_at) > SIGNATURE_MAX_AGE:
        return "Signature expired"
    names = signed_names.split(";")
    if (access_key, day, region, service) != (credentials.access_key, timestamp[:8], MANAGEMENT_REGION,
                                              "execute-api") or not {"host", "x-amz-date"} <= set(names):
        return "The security token included in the request is invalid."
    if credentials.token and ("x-amz-security-token" not in names
                              or not hmac.compare_digest(headers.get("X-Amz-Security-Token", ""), credentials.token)):
        return "The security token included in the request is invalid."
    # botocore trusts a stated payload hash; a replayed signature must not carry another body.
    if "X-Amz-Content-SHA256" in headers and headers["X-Amz-Content-SHA256"] != hashlib.sha256(body).hexdigest():
        return "The request signature we calculated does not match the signature you provided."
    to_sign = AWSRequest(method=method, url=url, headers={name: headers.get(name, "") for name in names}, data=body)
    to_sign.context["timestamp"] = timestamp
    signer = SigV4Auth(credentials, "execute-api", MANAGEMENT_REGION)
    if signer.signed_headers(signer.headers_to_sign(to_sign)) != signed_names:
        return "The request signature we calculated does not match the signature you provided."
    expected = signer.signature(signer.string_to_sign(to_sign, signer.canonical_request(to_sign)), to_sign)
    if not hmac.compare_digest(expected, signature):
        return "The request signature we calculated does not match the signature you provided."
    return None


def serve_requests_per_thread(chalice_app) -> None:
    """Makes the app's `current_request` and `lambda_context` belong to the thread that serves
    the request. Chalice keeps them on the app object, as one Lambda container serves one
    request at a time; the local server serves many at once, one per thread, as many
    containers would."""
    cls = type(chalice_app)
    if getattr(cls, "requests_per_thread", False):
        return
    state = threading.local()

    def per_thread(name):
        return property(lambda app: getattr(state, name, None), lambda app, value: setattr(state, name, value))
    chalice_app.__class__ = type(cls.__name__, (cls,), {
        "requests_per_thread": True, "current_request": per_thread("current_request"),
        "lambda_context": per_thread("lambda_context")})
    for name in ("current_request", "lambda_context"):
        chalice_app.__dict__.pop(name, None)


def content_security_policy(origin_ws: str) -> str:
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {origin_ws}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class Gateway:
    def __init__(self, chalice_app, web_dir: Path, idle_timeout: float = 600, max_lifetime: float = 7200,
                 post_delay: float = 0.0, credentials: Credentials = LOCAL_CREDENTIALS,
                 outbox_bytes: int = OUTBOX_BYTES, send_timeout: float = SEND_TIMEOUT):
        self.app = chalice_app
        self.credentials = credentials
        self.outbox_bytes = outbox_bytes
        self.send_timeout = send_timeout
        self.web_dir = web_dir
        self.idle_timeout = idle_timeout
        self.max_lifetime = max_lifetime
        self.post_delay = post_delay
        serve_requests_per_thread(chalice_app)
        # One LocalGateway per thread: the caller's address goes into its event converter.
        self._rest = threading.local()
        self.pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="lambda")
        self.sockets: dict[str, dict] = {}
        self.base_url = ""
        self.handlers = {route_key: self._lambda_entry_point(config.handler_string)
                         for route_key, config in chalice_app.websocket_handlers.items()}

    @staticmethod
    def _lambda_entry_point(handler_string: str):
        """What Lambda calls for a handler string like 'app.ws_message'."""
        module_name, _, attribute = handler_string.rpartition(".")
        return getattr(importlib.import_module(module_name), attribute)

    def web_app(self) -> web.Application:
        application = web.Application(client_max_size=BODY_LIMIT, middlewares=[self._headers])
        application.router.add_get("/api/openapi.json", self.openapi_document)
        # [\s\S], not '.': a path with an encoded newline (%0A) is still the API's to answer.
        application.router.add_route("*", r"/api/{tail:[\s\S]*}", self.handle_rest)
        application.router.add_get("/ws", self.handle_websocket)
        application.router.add_post("/@connections/{connection_id}", self.post_to_connection)
        application.router.add_delete("/@connections/{connection_id}", self.delete_connection)
        application.router.add_get("/@connections/{connection_id}", self.get_connection)
        application.router.add_get("/@connections", self.list_connections)
        application.router.add_get("/config.json", self.config_json)
        application.router.add_get("/", self.index)
        if self.web_dir.is_dir():
            application.router.add_static("/", self.web_dir, show_index=False, follow_symlinks=False)
        return application

    @web.middleware
    async def _headers(self, request, handler):
        response = await handler(request)
        if not request.path.startswith(("/api/", "/@connections/", "/ws")):
            response.headers.update(SECURITY_HEADERS)
            ws_origin = self.base_url.replace("http", "ws", 1)
            response.headers["Content-Security-Policy"] = content_security_policy(ws_origin)
        return response

    async def _in_lambda(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    # -- the site ------------------------------------------------------------------
    async def index(self, request):
        index = self.web_dir / "index.html"
        if not index.exists():
            return web.Response(text="<!doctype html><title>Chat</title><p>The web client is not built yet.",
                                content_type="text/html")
        return web.FileResponse(index)

    async def config_json(self, request):
        return web.json_response({"apiUrl": f"{self.base_url}/api",
                                  "websocketUrl": f"{self.base_url.replace('http', 'ws', 1)}/ws"},
                                 headers={"Cache-Control": "no-store"})

    # -- REST ----------------------------------------------------------------------
    async def openapi_document(self, request):
        if not OPENAPI_DOCUMENT.exists():
            return web.json_response({"error": {"code": "not_found", "message": "No such endpoint."}}, status=404)
        return web.FileResponse(OPENAPI_DOCUMENT, headers={"Content-Type": "application/json"})

    def _call_rest(self, method, path, headers, body, source_ip):
        rest = getattr(self._rest, "gateway", None)
        if rest is None:
            rest = self._rest.gateway = LocalGateway(self.app, Config.create(app_name="chat", lambda_timeout=29,
                                                                             lambda_memory_size=512))
        # API Gateway puts the caller's address in requestContext.identity.sourceIp.
        rest.event_converter.LOCAL_SOURCE_IP = source_ip
        return rest.handle_request(method=method, path=path, headers=headers, body=body)

    async def handle_rest(self, request):
        if len(request.rel_url.raw_path_qs) > URL_LIMIT:
            return web.json_response({"error": {"code": "invalid_request", "message":
                                                f"The URL must be at most {URL_LIMIT} bytes."}}, status=400)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            # aiohttp's own answer is plain text; clients of the API parse the contract's JSON.
            return web.json_response({"error": {"code": "too_large", "message":
                                                f"The request body must be at most {BODY_LIMIT} bytes."}},
                                     status=413)
        path = request.rel_url.raw_path_qs[len("/api"):] or "/"
        headers = {key.lower(): value for key, value in request.headers.items()}
        try:
            response = await self._in_lambda(self._call_rest, request.method, path, headers, body,
                                              request.remote or "127.0.0.1")
        except LocalGatewayException:
            return web.json_response({"error": {"code": "not_found", "message": "No such endpoint."}},
                                     status=404)
        body = response["body"]
        if isinstance(body, str):
            body = body.encode("utf-8")
        # API Gateway labels a Lambda answer without a Content-Type as JSON.
        result = web.Response(status=response["statusCode"], body=body, content_type="application/json")
        for key, value in (response.get("headers") or {}).items():
            result.headers[key] = value
        for key, values in (response.get("multiValueHeaders") or {}).items():
            for value in values:
                result.headers.add(key, value)
        return result

    # -- WebSocket -----------------------------------------------------------------
    @staticmethod
    def _event(connection_id, route_key, request, body=None):
        connect = route_key == "$connect"
        return websocket_event(route_key, connection_id, domain_name=request.host, stage=STAGE, api_id=API_ID,
                               body=body, query=dict(request.query) if connect else None,
                               headers=dict(request.headers) if connect else None,
                               source_ip=request.remote or "127.0.0.1",
                               user_agent=request.headers.get("User-Agent", ""))

    @staticmethod
    def _invoke(handler, event):
        return handler(event, lambda_context())

    @staticmethod
    def _route_key(body: str) -> str:
        """The frame's action when the stack declares a route for it, else $default (as API Gateway)."""
        try:
            action = json.loads(body).get("action")
        except (ValueError, AttributeError, RecursionError):  # not JSON, or nested too deep to parse
            return "$default"
        return action if isinstance(action, str) and action in stack.route_keys() else "$default"

    async def handle_websocket(self, request):
        connection_id = _new_connection_id()
        connect = self._event(connection_id, "$connect", request)
        result = await self._in_lambda(self._invoke, self.handlers["$connect"], connect)
        status = (result or {}).get("statusCode", 200)
        if not 200 <= status < 300:
            # API Gateway answers a refused $connect before the upgrade.
            return web.Response(status=403 if status == 401 else status, text="Forbidden")
        socket = web.WebSocketResponse(max_msg_size=FRAME_LIMIT, autoping=True)
        await socket.prepare(request)
        entry = {"socket": socket, "connected_at": _now_iso(), "last_active": time.monotonic(),
                 "username": _token_subject(request.query.get("token")),
                 "started": time.monotonic(), "request": request,
                 "outbox": asyncio.Queue(), "queued_bytes": 0}
        self.sockets[connection_id] = entry
        watchdog = asyncio.create_task(self._watch_limits(connection_id))
        writer = asyncio.create_task(self._write(connection_id, entry))
        try:
            async for frame in socket:
                entry["last_active"] = time.monotonic()
                if frame.type == WSMsgType.TEXT:
                    body = frame.data
                elif frame.type == WSMsgType.BINARY:
                    # API Gateway does not take binary frames in incoming messages: it closes with 1003.
                    await socket.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"Binary frames are not supported")
                    break
                else:
                    continue
                event = self._event(connection_id, self._route_key(body), request, body)
                try:
                    await self._in_lambda(self._invoke, self.handlers["$default"], event)
                except Exception:  # noqa: BLE001 - a failed integration does not end the connection
                    log.exception("the $default handler failed")
                    self._integration_failed(connection_id, event)
        finally:
            watchdog.cancel()
            self.sockets.pop(connection_id, None)
            # Not cancelled: it may be finishing a close handshake that the server started.
            entry["outbox"].put_nowait(None)
            disconnect = self._event(connection_id, "$disconnect", request)
            await self._in_lambda(self._invoke, self.handlers["$disconnect"], disconnect)
            await writer
        return socket

    def _integration_failed(self, connection_id, event):
        """What API Gateway sends the client when the integration (the Lambda) fails."""
        frame = {"message": "Internal server error", "connectionId": connection_id,
                 "requestId": event["requestContext"]["requestId"]}
        self._enqueue(connection_id, json.dumps(frame))

    def _enqueue(self, connection_id, text: str) -> bool:
        """Queues a frame for the connection; False when it is gone (or has just overflowed)."""
        entry = self.sockets.get(connection_id)
        if entry is None or entry["socket"].closed:
            return False
        size = len(text.encode("utf-8"))
        if entry["queued_bytes"] + size > self.outbox_bytes:
            log.warning("connection %s stopped reading: closed", connection_id)
            self._drop(connection_id)
            return False
        entry["queued_bytes"] += size
        entry["outbox"].put_nowait(text)
        return True

    def _close(self, connection_id, code: int, message: bytes) -> bool:
        """Closes after the frames already queued; from now on the connection is gone."""
        entry = self.sockets.pop(connection_id, None)
        if entry is None:
            return False
        entry["outbox"].put_nowait((_CLOSE, code, message))
        return True

    def _drop(self, connection_id) -> None:
        """Ends a connection at once: a client that does not read would never see a close frame."""
        entry = self.sockets.pop(connection_id, None)
        if entry is not None:
            self._abort(entry)

    @staticmethod
    def _abort(entry) -> None:
        transport = entry["request"].transport
        if transport is not None:
            transport.abort()

    async def _write(self, connection_id, entry):
        """The connection's only writer, so a stalled client holds up its own frames only."""
        socket = entry["socket"]
        while True:
            item = await entry["outbox"].get()
            if item is None:
                return
            try:
                if isinstance(item, tuple):
                    _, code, message = item
                    await asyncio.wait_for(socket.close(code=code, message=message), self.send_timeout)
                    return
                await asyncio.wait_for(socket.send_str(item), self.send_timeout)
            except asyncio.TimeoutError:
                log.warning("connection %s stopped reading: closed", connection_id)
                self.sockets.pop(connection_id, None)
                self._abort(entry)
                return
            except (ConnectionResetError, RuntimeError):  # the client went away meanwhile
                return
            entry["queued_bytes"] -= len(item.encode("utf-8"))

    async def _watch_limits(self, connection_id):
        """API Gateway closes a connection idle for 10 minutes, and any after 2 hours."""
        while True:
            entry = self.sockets.get(connection_id)
            if entry is None:
                return
            now = time.monotonic()
            deadline = min(entry["last_active"] + self.idle_timeout, entry["started"] + self.max_lifetime)
            if now >= deadline:
                self._close(connection_id, 1001, b"Going away")
                return
            await asyncio.sleep(min(deadline - now, 1.0))

    # -- management API ------------------------------------------------------------
    @staticmethod
    def _forbidden(message: str = "Forbidden"):
        return web.json_response({"message": message}, status=403,
                                 headers={"x-amzn-ErrorType": "ForbiddenException"})

    @staticmethod
    def _too_long():
        return web.json_response({"message": "Message too long"}, status=413,
                                 headers={"x-amzn-ErrorType": "PayloadTooLargeException"})

    async def _refusal(self, request) -> web.Response | None:
        """API Gateway's answer to a management call it does not take, or None."""
        if "Origin" in request.headers:
            return self._forbidden()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._too_long()
        problem = signature_problem(request.method, f"http://{request.host}{request.raw_path}", request.headers,
                                    body, self.credentials, datetime.now(timezone.utc))
        return self._forbidden(problem) if problem else None

    @staticmethod
    def _gone(connection_id):
        return web.json_response({"message": f"Connection {connection_id} is gone"}, status=410,
                                 headers={"x-amzn-ErrorType": "GoneException"})

    async def post_to_connection(self, request):
        if refusal := await self._refusal(request):
            return refusal
        connection_id = request.match_info["connection_id"]
        data = await request.read()
        if self.post_delay:
            await asyncio.sleep(self.post_delay)
        if connection_id not in self.sockets:
            return self._gone(connection_id)
        if len(data) > 128 * 1024:
            return self._too_long()
        if not self._enqueue(connection_id, data.decode("utf-8")):
            return self._gone(connection_id)
        return web.Response(status=200)

    async def delete_connection(self, request):
        if refusal := await self._refusal(request):
            return refusal
        connection_id = request.match_info["connection_id"]
        if not self._close(connection_id, 1000, b"Closed by the server"):
            return self._gone(connection_id)
        return web.Response(status=204)

    async def list_connections(self, request):
        """Local-only: the open connections, for tests that close one from the server side."""
        if request.remote not in LOOPBACK or "Origin" in request.headers:
            return self._forbidden()
        return web.json_response({"Connections": [
            {"ConnectionId": connection_id, "Username": entry["username"], "ConnectedAt": entry["connected_at"]}
            for connection_id, entry in list(self.sockets.items())]})

    async def get_connection(self, request):
        if refusal := await self._refusal(request):
            return refusal
        connection_id = request.match_info["connection_id"]
        entry = self.sockets.get(connection_id)
        if entry is None:
            return self._gone(connection_id)
        last_active = datetime.now(timezone.utc).timestamp() - (time.monotonic() - entry["last_active"])
        return web.json_response({
            "ConnectedAt": entry["connected_at"],
            "LastActiveAt": datetime.fromtimestamp(last_active, timezone.utc).isoformat(),
            "Identity": {"SourceIp": entry["request"].remote or "127.0.0.1",
                         "UserAgent": entry["request"].headers.get("User-Agent", "")}})
