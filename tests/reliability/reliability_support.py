"""Helpers of the reliability tests: the local server's connection listing and the
management API's server-side close."""
from support import management_call, open_connections

__all__ = ["close_from_server", "open_connections"]


def close_from_server(base: str, connection_id: str) -> int:
    """API Gateway's `DELETE /@connections/{id}`: the server closes that client's socket."""
    return management_call(base, "DELETE", connection_id)[0]
