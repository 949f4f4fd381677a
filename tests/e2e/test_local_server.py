"""The local server as an attack surface and as a stand-in for API Gateway: its data files,
its management API, per-connection buffering and concurrent REST calls."""
import stat
import time

from support import Api, local_server


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_files_are_readable_by_their_owner_only(tmp_path):
    """The snapshot holds password hashes and jwt-secret signs every token."""
    data = tmp_path / "data"
    with local_server(data) as base:
        Api(base).register()
        snapshot = data / "dynamodb.json"
        deadline = time.monotonic() + 10
        while not snapshot.exists():
            assert time.monotonic() < deadline, "no snapshot written"
            time.sleep(0.1)
    assert _mode(data) == 0o700
    assert _mode(snapshot) == 0o600
    assert _mode(data / "jwt-secret") == 0o600
    assert not (data / "dynamodb.tmp").exists()


def test_a_body_over_the_size_limit_gets_the_contracts_413(api):
    status, body, headers = api.call("POST", "/auth/register", raw=b"x" * (1024 * 1024 + 1))
    assert status == 413
    assert body["error"]["code"] == "too_large" and body["error"]["message"]
    assert headers["Content-Type"].startswith("application/json")
