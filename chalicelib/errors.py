"""The contract's error codes, raised by the service and shaped by the handlers.

Kept free of third-party imports: app.py imports it at start-up.
"""

STATUS = {
    "invalid_request": 400,
    "unauthorized": 401,
    "invalid_credentials": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "rate_limited": 429,
    "internal": 500,
    # An AWS dependency stayed throttled or unreachable through the retries: try again.
    "unavailable": 503,
}


class ChatError(Exception):
    def __init__(self, code: str, message: str, fields: dict | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return STATUS[self.code]

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


def invalid(message: str, fields: dict | None = None) -> ChatError:
    return ChatError("invalid_request", message, fields)


def forbidden(message: str) -> ChatError:
    return ChatError("forbidden", message)


def not_found(message: str) -> ChatError:
    return ChatError("not_found", message)


def unauthorized(message: str = "A valid token is required.") -> ChatError:
    return ChatError("unauthorized", message)
