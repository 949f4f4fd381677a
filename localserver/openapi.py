"""Builds docs/openapi.json, the REST API's OpenAPI 3.1 description, from the pydantic models.

Request bodies and query parameters come from chalicelib/models.py through
`model_json_schema`, so the document cannot drift from what the handlers accept. The
models check some rules in plain Python (`AfterValidator`s: username pattern, password
bytes, trimmed room names, message ids); JSON Schema cannot see those, so this module
adds what each validator checks, using the models' own constants. Response shapes are
chalicelib/shapes.py's models, the ones the handlers answer with.

Not deployed: the Lambda package never imports it (it lives in localserver/).

    python -m localserver.openapi            # prints the document
    python -m localserver.openapi --write    # writes docs/openapi.json
    python -m localserver.openapi --check    # exit 1 if docs/openapi.json is stale
"""
import argparse
import json
import re
import sys
from pathlib import Path
from pydantic import BaseModel, Field
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from chalicelib import models, names
from chalicelib.shapes import (AuthResult, DmSummary, MeResult, Message, MessagePage, MyConversations, OnlineUsers,
                               Room, RoomDetails, RoomDetailsResult, RoomList, RoomResult, User)

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
REF = "#/components/schemas/{model}"

# Characters str.isprintable() refuses, as far as a regex class says it simply: control
# characters, C1 controls, and the usual invisible/space-like code points. Exact for ASCII.
_NOT_PRINTABLE = r"\u0000-\u001f\u007f-\u00a0\u00ad\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff"
_CONTROLS = r"\u0000-\u001f\u007f-\u009f"
# What names.renders_blank counts as showing nothing, as far as a BMP regex class reaches
# (the default-ignorable tags and variation selectors beyond U+FFFF are left out).
_BLANK = r"\s" + _CONTROLS + "".join(
    rf"\u{start:04x}" + (rf"-\u{end:04x}" if end > start else "")
    for start, end in names.DEFAULT_IGNORABLE if end <= 0xFFFF) + "".join(
    rf"\u{ord(char):04x}" for char in sorted(names.BLANK_SYMBOLS))
_BIDI = "".join(rf"\u{ord(char):04x}" for char in sorted(names.BIDI_CONTROLS))


def _trimmed(max_length: int, inner: str = r"[\s\S]", edge: str = r"\S", min_length: int = 0) -> str:
    """A pattern for strings whose length after strip() lies in [min_length, max_length]
    (the models trim first, then count)."""
    body = f"{edge}(?:{inner}{{0,{max_length - 2}}}{edge})?"
    return rf"^\s*{body if min_length else f'(?:{body})?'}\s*$"


def _visible(pattern: str) -> str:
    """`pattern` (anchored with ^), for strings that also show something (names.renders_blank)."""
    return rf"^(?=[\s\S]*[^{_BLANK}]){pattern.removeprefix('^')}"


# What each AfterValidator in chalicelib/models.py checks, in JSON Schema terms.
VALIDATOR_SCHEMAS = {
    models._username: {"pattern": models.USERNAME_PATTERN,
                       "description": "3-32 characters: letters, digits, '_', '.' or '-'; unique case-insensitively."},
    models._password: {"minLength": 8, "maxLength": 72,
                       "description": "8-72 bytes of UTF-8 (longer passwords are refused, never truncated)."},
    models._printable_name: {
        "pattern": _visible(_trimmed(models.MAX_ROOM_NAME, inner=f"[^{_NOT_PRINTABLE}]",
                                     edge=rf"[^\s{_NOT_PRINTABLE}]", min_length=1)),
        "description": f"1-{models.MAX_ROOM_NAME} printable characters after trimming surrounding whitespace "
                       "and composing (NFC), not all of them invisible (fillers, zero-width characters, "
                       "variation selectors, U+2800). Unique by Unicode's canonical caseless match, "
                       "ignoring default-ignorable characters."},
    models._description: {
        "pattern": _trimmed(models.MAX_DESCRIPTION, inner=rf"[^{_CONTROLS}\u2028\u2029{_BIDI}]",
                            edge=rf"[^\s{_CONTROLS}{_BIDI}]"),
        "description": f"At most {models.MAX_DESCRIPTION} characters after trimming; no control characters, "
                       "line breaks or bidi embedding, override and isolate characters. One that shows "
                       "nothing is stored as \"\"."},
    models._message_text: {
        "pattern": _visible(_trimmed(models.MAX_TEXT, min_length=1)),
        "description": f"1-{models.MAX_TEXT} characters after trimming, not all of them invisible or "
                       "control characters."},
    models.HistoryQuery._after_precedes_before: {
        "description": "Only the messages after this id. With `before` too, an earlier id than `before`: "
                       "the page lies between them (400 otherwise)."},
    models._login_name: {"pattern": _trimmed(models.MAX_LOGIN_NAME, min_length=1),
                         "description": "The username (any case) or the email."},
    models._message_id: {"pattern": models.MESSAGE_ID_PATTERN,
                         "description": "A message id (ULID: 26 characters of Crockford base32)."},
    # JSON Schema strings are Unicode text already; lone surrogates cannot be expressed in it.
    models._unicode_text: {},
}


class ModelSchemas(GenerateJsonSchema):
    """pydantic's JSON Schema, plus what the models' Python validators check."""

    def function_after_schema(self, schema):
        json_schema = dict(super().function_after_schema(schema))
        function = schema["function"]["function"]
        extra = VALIDATOR_SCHEMAS.get(function)
        if extra is None:
            if getattr(function, "__module__", None) == models.__name__:
                raise ValueError(f"no JSON Schema for validator {function.__name__}: add it to VALIDATOR_SCHEMAS")
            return json_schema  # pydantic's own (EmailStr): see _email_limits
        if "pattern" in extra:  # the pattern bounds the length; the model-wide cap would only mislead
            json_schema.pop("maxLength", None)
        return {**json_schema, **extra}

    def str_schema(self, schema):
        json_schema = super().str_schema(schema)
        if schema.get("strip_whitespace") and "maxLength" in json_schema:
            # Checked after trimming: say so exactly.
            json_schema["pattern"] = _trimmed(json_schema.pop("maxLength"))
        return json_schema


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = Field(default=None, description="{field: reason} for invalid fields.")


class Error(BaseModel):
    error: ErrorBody


# status -> (response name, the codes it carries, description)
ERRORS = {
    400: ("BadRequest", ["invalid_request"], "Invalid input: bad JSON, wrong media type or invalid fields "
                                             "(`fields` names them)."),
    401: ("Unauthorized", ["unauthorized", "invalid_credentials"],
          "Missing, expired, tampered or unsigned token (`unauthorized`), or a wrong login "
          "(`invalid_credentials`)."),
    403: ("Forbidden", ["forbidden"], "Not a member of the room, or not a participant of the DM."),
    404: ("NotFound", ["not_found"], "No such room."),
    409: ("Conflict", ["conflict"], "The name (or email) is taken; `fields` says which."),
    413: ("TooLarge", ["too_large"], "The body is over 16 KB."),
    429: ("RateLimited", ["rate_limited"], "Too many failed logins for this username or address; "
                                           "retry after `Retry-After` seconds."),
    503: ("Unavailable", ["unavailable"], "An AWS dependency stayed throttled or unreachable through the "
                                          "retries; safe to retry."),
}


def _error_response(status: int) -> dict:
    name, codes, description = ERRORS[status]
    schema = {"allOf": [{"$ref": REF.format(model="Error")}, {
        "type": "object", "properties": {"error": {"type": "object", "properties": {"code": {"enum": codes}}}}}]}
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if status == 429:
        response["headers"] = {"Retry-After": {"required": True, "description": "Seconds to wait.",
                                               "schema": {"type": "string", "pattern": r"^\d+$"}}}
    return response


def _ok(status: int, model: type[BaseModel], description: str, links: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}}
    if links:
        response["links"] = links
    return response


def _body(model: type[BaseModel]) -> dict:
    schema = {"$ref": REF.format(model=model.__name__)}
    # text/plain is accepted too (a JSON body labelled as text, e.g. from sendBeacon).
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _operation(operation_id: str, summary: str, ok: dict, errors: list[int], *, public: bool = False,
               body: type[BaseModel] | None = None, parameters: list | None = None) -> dict:
    statuses = sorted(set(errors) | ({401} if not public else set()) | {503})
    operation = {"operationId": operation_id, "summary": summary}
    if public:
        operation["security"] = []
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = _body(body)
    operation["responses"] = {**ok, **{str(status): {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
                                       for status in statuses}}
    return operation


def _query_parameters(schema: dict) -> list[dict]:
    """Query parameters from a model's schema; an optional field is simply left out of the query."""
    parameters = []
    for name, prop in schema["properties"].items():
        branches = [branch for branch in prop.get("anyOf", [prop]) if branch.get("type") != "null"]
        value = {key: item for key, item in branches[0].items() if key != "title"}
        if prop.get("default") is not None:
            value["default"] = prop["default"]
        parameter = {"name": name, "in": "query", "required": name in schema.get("required", []),
                     "schema": value}
        # A field's own validator describes the field; its type's describes the value.
        description = prop.get("description") or value.get("description")
        value.pop("description", None)
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _email_limits(schemas: dict) -> None:
    """EmailStr's schema is `format: email` with the model-wide length cap. email-validator
    (what EmailStr runs) also refuses addresses over 254 characters (RFC 5321) and
    special-use domains (`.test`, `.localhost`, ...): say so, from its own list."""
    from email_validator import SPECIAL_USE_DOMAIN_NAMES
    names = "|".join("".join(f"[{c.upper()}{c}]" if c.isalpha() else re.escape(c) for c in name)
                     for name in SPECIAL_USE_DOMAIN_NAMES)
    for schema in schemas.values():
        for prop in schema.get("properties", {}).values():
            if prop.get("format") == "email":
                prop["maxLength"] = 254
                prop["pattern"] = rf"^(?![\s\S]*[@.](?:{names})$)"
                prop["description"] = ("An email address; special-use domains (" +
                                       ", ".join(f".{name}" for name in SPECIAL_USE_DOMAIN_NAMES) +
                                       ") are refused. Unique case-insensitively.")


ROOM_ID = {"name": "room_id", "in": "path", "required": True,
           "description": "A room id, or a DM conversation id `dm:<a>:<b>` (messages only).",
           "schema": {"type": "string", "minLength": 1}}


def build() -> dict:
    inputs = [models.RegisterRequest, models.LoginRequest, models.CreateRoomRequest, models.HistoryQuery,
              models.RoomListQuery]
    outputs = [User, AuthResult, Room, RoomDetails, Message, DmSummary, MeResult, RoomList, MyConversations,
               RoomResult, RoomDetailsResult, MessagePage, OnlineUsers, ErrorBody, Error]
    _, definitions = models_json_schema(
        [(model, "validation") for model in inputs] + [(model, "serialization") for model in outputs],
        ref_template=REF, schema_generator=ModelSchemas)
    schemas = definitions["$defs"]
    _email_limits(schemas)
    history = schemas.pop("HistoryQuery")
    room_list = schemas.pop("RoomListQuery")
    room_links = {
        "GetRoom": {"operationId": "getRoom", "parameters": {"room_id": "$response.body#/room/id"}},
        "ListMessages": {"operationId": "listMessages", "parameters": {"room_id": "$response.body#/room/id"}},
    }
    paths = {
        "/auth/register": {"post": _operation(
            "register", "Create an account; answers a token.",
            {"201": _ok(201, AuthResult, "Registered.")}, [400, 409, 413], public=True,
            body=models.RegisterRequest)},
        "/auth/login": {"post": _operation(
            "login", "Log in with the username (any case) or the email.",
            {"200": _ok(200, AuthResult, "Logged in.")}, [400, 401, 413, 429], public=True,
            body=models.LoginRequest)},
        "/me": {"get": _operation("getMe", "The caller's own user, with the email.",
                                  {"200": _ok(200, MeResult, "The caller.")}, [])},
        "/me/rooms": {"get": _operation(
            "getMyRooms", "Extension: the rooms the caller is a member of and their DM conversations.",
            {"200": _ok(200, MyConversations, "The caller's conversations.")}, [])},
        "/chatrooms": {
            "get": _operation("listRooms", "The rooms, oldest first, a page at a time (extension: `limit`, "
                              "`cursor`, `next_cursor`).", {"200": _ok(200, RoomList, "A page of rooms.")}, [400],
                              parameters=_query_parameters(room_list)),
            "post": _operation("createRoom", "Create a room (the creator is not made a member).",
                               {"201": _ok(201, RoomResult, "Created.", room_links)}, [400, 409, 413],
                               body=models.CreateRoomRequest),
        },
        "/chatrooms/{room_id}": {"get": _operation(
            "getRoom", "A room with its durable members; any authenticated user may read it.",
            {"200": _ok(200, RoomDetailsResult, "The room.")}, [404], parameters=[ROOM_ID])},
        "/chatrooms/{room_id}/messages": {"get": _operation(
            "listMessages", "A page of a room's (members only) or a DM's (participants only) messages.",
            {"200": _ok(200, MessagePage, "A page, oldest first.")}, [400, 403, 404],
            parameters=[ROOM_ID, *_query_parameters(history)])},
        "/users/online": {"get": _operation(
            "listOnlineUsers", "Usernames with at least one open WebSocket connection, sorted.",
            {"200": _ok(200, OnlineUsers, "Who is online.")}, [])},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Serverless chat REST API", "version": "1",
                 "description": "Generated by `python -m localserver.openapi --write` from chalicelib/models.py; "
                                "the contract is docs/protocol.md, the prose docs/api.md. The WebSocket API is "
                                "described in docs/api.md."},
        "servers": [{"url": "/api", "description": "The REST base path (locally and the API stage `api`)."}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas,
            "responses": {name: _error_response(status) for status, (name, _, _) in ERRORS.items()},
        },
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localserver.openapi", description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"write {DOCUMENT.relative_to(ROOT)}")
    group.add_argument("--check", action="store_true", help="exit 1 when the committed document is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOCUMENT.write_text(text)
    elif args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != text:
            print(f"{DOCUMENT.relative_to(ROOT)} is stale: run python -m localserver.openapi --write",
                  file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
