"""Helpers of the reliability tests: the local server's connection listing and the
management API's server-side close."""
import json
import urllib.error
import urllib.parse
import urllib.request


def open_connections(base: str) -> list[dict]:
    """The local server's open connections (its loopback-only `GET /@connections`)."""
    with urllib.request.urlopen(base + "/@connections", timeout=10) as response:
        return json.loads(response.read())["Connections"]


def close_from_server(base: str, connection_id: str) -> int:
    """API Gateway's `DELETE /@connections/{id}`: the server closes that client's socket."""
    # Ids are base64 (they may hold '/' and '+'): quote them, as boto3 does.
    quoted = urllib.parse.quote(connection_id, safe="")
    request = urllib.request.Request(f"{base}/@connections/{quoted}", method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
