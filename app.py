"""Chalice routes and WebSocket handlers: parse, call the chat service, shape the answer."""
import logging
from functools import wraps

from chalice import Chalice, Response

from chalicelib.errors import ChatError, invalid

app = Chalice(app_name="chat")
app.experimental_feature_flags.update(["WEBSOCKETS"])
app.log.setLevel(logging.INFO)
# No CORS: the site's CloudFront serves /api and /ws on its own origin (docs/deploy.md), as the
# local server does.

MAX_BODY_BYTES = 16 * 1024
# The SQS queue that big rooms hand their fan-out to (chalicelib/notifier.py); `make package`
# points the worker's event at the stack's queue and gives the senders its URL as FANOUT_QUEUE_URL.
FANOUT_QUEUE = "chat-fanout"
JSON_AND_TEXT = ["application/json", "text/plain"]


def _runtime():
    from chalicelib import runtime
    return runtime.current()


def _is_transient(error: Exception) -> bool:
    from chalicelib.runtime import is_transient
    return is_transient(error)


def _error_response(error: ChatError) -> Response:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after else {}
    return Response(body=error.body(), status_code=error.status, headers=headers)


def _unavailable(error: Exception) -> ChatError:
    app.log.warning("AWS call failed after retries: %s", type(error).__name__)
    return ChatError("unavailable", "The service is busy; try again shortly.")


def contract_errors(view):
    """Answers every refusal in the contract's error shape."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except ChatError as error:
            return _error_response(error)
        except Exception as error:
            if not _is_transient(error):
                raise
            return _error_response(_unavailable(error))
    return wrapper


@app.middleware("http")
def chalice_errors_in_contract_shape(event, get_response):
    """Chalice's own refusals (unsupported media type, method, internal error) use its
    {Code, Message} shape; rewrite them into the contract's."""
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        code = {405: "invalid_request", 415: "invalid_request", 413: "too_large"}.get(
            response.status_code, "internal")
        message = body.get("Message", "") if code != "internal" else "Something went wrong on our side."
        response.body = {"error": {"code": code, "message": message}}
        # A wrong method keeps 405 and its Allow header; the rest take the contract's status.
        if response.status_code != 405:
            response.status_code = ChatError(code, message).status
    return response


def _body(model):
    from chalicelib.models import parse, parse_json_body
    raw = app.current_request.raw_body
    if raw and len(raw) > MAX_BODY_BYTES:
        raise ChatError("too_large", f"The request body must be at most {MAX_BODY_BYTES} bytes.")
    return parse(model, parse_json_body(raw))


def _query(model):
    """The query string as `model`; `limit` arrives as text and is read as a whole number."""
    from chalicelib.models import parse
    params = dict(app.current_request.query_params or {})
    if "limit" in params:
        try:
            params["limit"] = int(params["limit"])
        except ValueError:
            raise invalid("Some fields are invalid.", {"limit": "must be a whole number"}) from None
    return parse(model, params)


def _source_ip() -> str:
    return app.current_request.context.get("identity", {}).get("sourceIp", "unknown")


def _username() -> str:
    from chalicelib.auth import bearer_token
    return _runtime().chat.authenticate(bearer_token(app.current_request.headers.get("authorization")))


@app.route("/auth/register", methods=["POST"], content_types=JSON_AND_TEXT)
@contract_errors
def register():
    from chalicelib.models import RegisterRequest
    result = _runtime().chat.register(_body(RegisterRequest), _source_ip())
    return Response(body=result.dump(), status_code=201)


@app.route("/auth/login", methods=["POST"], content_types=JSON_AND_TEXT)
@contract_errors
def login():
    from chalicelib.models import LoginRequest
    return _runtime().chat.login(_body(LoginRequest), _source_ip()).dump()


@app.route("/me", methods=["GET"])
@contract_errors
def me():
    from chalicelib.shapes import MeResult
    return MeResult(user=_runtime().chat.me(_username())).dump()


@app.route("/me/rooms", methods=["GET"])
@contract_errors
def my_rooms():
    return _runtime().chat.my_conversations(_username()).dump()


@app.route("/chatrooms", methods=["GET"])
@contract_errors
def list_rooms():
    from chalicelib.models import RoomListQuery
    from chalicelib.shapes import RoomList
    _username()
    rooms, next_cursor = _runtime().chat.rooms_page(_query(RoomListQuery))
    return RoomList(rooms=rooms, next_cursor=next_cursor).dump()


@app.route("/chatrooms", methods=["POST"], content_types=JSON_AND_TEXT)
@contract_errors
def create_room():
    from chalicelib.models import CreateRoomRequest
    from chalicelib.shapes import RoomResult
    username = _username()
    room = _runtime().chat.create_room(username, _body(CreateRoomRequest))
    return Response(body=RoomResult(room=room).dump(), status_code=201)


@app.route("/chatrooms/{room_id}", methods=["GET"])
@contract_errors
def get_room(room_id):
    from chalicelib.shapes import RoomDetailsResult
    _username()
    return RoomDetailsResult(room=_runtime().chat.room_details(room_id)).dump()


@app.route("/chatrooms/{room_id}/messages", methods=["GET"])
@contract_errors
def room_messages(room_id):
    from urllib.parse import unquote
    from chalicelib.models import HistoryQuery
    from chalicelib.shapes import MessagePage
    username = _username()
    messages, more = _runtime().chat.messages(username, unquote(room_id), _query(HistoryQuery))
    return MessagePage(messages=messages, more=more).dump()


@app.route("/users/online", methods=["GET"])
@contract_errors
def online_users():
    from chalicelib.shapes import OnlineUsers
    _username()
    return OnlineUsers(users=_runtime().chat.online_users()).dump()


# -- WebSocket -------------------------------------------------------------------
@app.on_ws_connect()
def ws_connect(event):
    token = (event.to_dict().get("queryStringParameters") or {}).get("token")
    try:
        _runtime().chat.connect(event.connection_id, token)
    except ChatError as error:
        return {"statusCode": error.status}
    return {"statusCode": 200}


@app.on_ws_disconnect()
def ws_disconnect(event):
    runtime = _runtime()
    runtime.chat.disconnect(event.connection_id, runtime.notifier(event.domain_name, event.stage))


@app.on_ws_message()
def ws_message(event):
    """Every named route (join, send, …) and $default land here; the frame's action decides."""
    from chalicelib import frames
    from chalicelib.models import FrameError, frame_context, parse_frame
    runtime = _runtime()
    notifier = runtime.notifier(event.domain_name, event.stage)
    frame = None
    try:
        frame = parse_frame(event.body)
        runtime.chat.handle(event.connection_id, frame, notifier)
    except Exception as error:
        if isinstance(error, FrameError):
            action, client_id = error.action, error.client_id
        else:
            action, client_id = frame_context(frame.model_dump() if frame else None)
        if not isinstance(error, ChatError):
            if not _is_transient(error):
                app.log.exception("frame %s failed", action)
                error = ChatError("internal", "Something went wrong on our side.")
            else:
                error = _unavailable(error)
        notifier.send(event.connection_id, frames.error(error.code, error.message, action, client_id,
                                                         error.fields, error.retry_after))


@app.on_sqs_message(queue=FANOUT_QUEUE, batch_size=1)
def fanout_worker(event):
    """Posts one queued batch of a big room's fan-out (at most 500 connections)."""
    _runtime().fan_out(record.body for record in event)
