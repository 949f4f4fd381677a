"""The events API Gateway sends a WebSocket integration and the Lambda context it runs in,
built in one place for the local server, the benchmarks and the tests."""
import base64
import os
import time

from chalice.local import LambdaContext

EVENT_TYPES = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}


def websocket_event(route_key: str, connection_id: str, *, domain_name: str, stage: str, api_id: str,
                    body: str | None = None, query: dict | None = None, headers: dict | None = None,
                    source_ip: str = "127.0.0.1", user_agent: str = "") -> dict:
    """What API Gateway hands the integration of `route_key` (`$connect`, `$disconnect`, a
    named route or `$default`); `query` and `headers` belong to `$connect` only."""
    event_type = EVENT_TYPES.get(route_key, "MESSAGE")
    now_ms = int(time.time() * 1000)
    context = {"routeKey": route_key, "eventType": event_type, "connectionId": connection_id,
               "domainName": domain_name, "stage": stage, "apiId": api_id,
               "requestId": base64.b32encode(os.urandom(10)).decode(), "connectedAt": now_ms,
               "requestTimeEpoch": now_ms, "identity": {"sourceIp": source_ip, "userAgent": user_agent}}
    event = {"requestContext": context, "isBase64Encoded": False}
    if event_type == "CONNECT":
        event["queryStringParameters"] = query or None
        event["headers"] = headers or {}
    if body is not None:
        event["body"] = body
    return event


def lambda_context(function_name: str = "websocket") -> LambdaContext:
    """A Lambda context as the stack configures the functions (512 MB, 29 s)."""
    return LambdaContext(function_name=function_name, memory_size=512, max_runtime_ms=29_000)
