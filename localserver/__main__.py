"""`python -m localserver`: the whole app on one local port, no AWS account needed."""
import argparse
import asyncio
import dataclasses
import logging
import os
import secrets
import signal
import socket
from pathlib import Path

import boto3
from aiohttp import web

from chalicelib import runtime
from chalicelib.config import Settings, Tables

from .dynamo import LocalDynamo, write_private
from .gateway import LOCAL_CREDENTIALS, MANAGEMENT_REGION, OUTBOX_BYTES, REQUEST_LINE_LIMIT, SEND_TIMEOUT, Gateway

ROOT = Path(__file__).resolve().parent.parent
LOCAL_TABLES = Tables.prefixed("chat-local")
DEFAULT_DATA_DIR = ROOT / ".local"


def _secret(data_dir: Path) -> str:
    """A JWT signing secret made once and kept with the data, so tokens outlive restarts."""
    path = data_dir / "jwt-secret"
    if not path.exists():
        write_private(path, secrets.token_urlsafe(48))
    return path.read_text().strip()


def _runtime(data_dir: Path, base_url: str, session, dynamodb_endpoint: str) -> runtime.Runtime:
    """The app's composition root as the local server runs it: settings from the environment
    (so tests can lower limits), the local tables, secret and management API."""
    settings = dataclasses.replace(Settings.from_environment(os.environ), tables=LOCAL_TABLES,
                                   jwt_secret=_secret(data_dir), jwt_secret_param=None, ws_management_url=base_url)
    return runtime.Runtime(settings, session=session, dynamodb_endpoint=dynamodb_endpoint)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def _serve(args) -> None:
    data_dir = Path(args.data_dir).resolve()
    created = not data_dir.exists()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Older runs made .local world-readable; a folder the user chose and that existed is
    # theirs to set (it may be a home or a shared one).
    if created or data_dir == DEFAULT_DATA_DIR:
        data_dir.chmod(0o700)
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    base_url = f"http://{args.host}:{port}"

    from app import app as chalice_app

    # moto accepts any credentials; these keep boto3 from looking for real ones, and the
    # gateway's management API takes only requests signed with them.
    session = boto3.session.Session(aws_access_key_id=LOCAL_CREDENTIALS.access_key,
                                    aws_secret_access_key=LOCAL_CREDENTIALS.secret_key,
                                    aws_session_token=LOCAL_CREDENTIALS.token, region_name=MANAGEMENT_REGION)
    # Chalice's WebSocket handlers look up a region from their session (AWS-FACTS: it must be set
    # before any handler runs); without this, $connect fails where AWS_REGION is unset.
    chalice_app.websocket_api.session = session
    dynamo = LocalDynamo(data_dir, LOCAL_TABLES, session)
    runtime.use(_runtime(data_dir, base_url, session, dynamo.start()))
    gateway = Gateway(chalice_app, ROOT / "web", idle_timeout=args.idle_timeout,
                      max_lifetime=args.max_connection, post_delay=args.post_delay_ms / 1000,
                      credentials=LOCAL_CREDENTIALS, outbox_bytes=args.outbox_bytes, send_timeout=args.send_timeout)
    gateway.base_url = base_url
    runner = web.AppRunner(gateway.web_app(), access_log=None, handle_signals=False,
                           max_line_size=REQUEST_LINE_LIMIT)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    print(f"Chat is running at {base_url}  (Ctrl-C stops it; data in {data_dir})", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    print("Stopping…", flush=True)
    await runner.cleanup()
    gateway.pool.shutdown(wait=True, cancel_futures=True)
    dynamo.stop()
    print("Stopped.", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m localserver", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--idle-timeout", type=float, default=600, help="seconds (API Gateway: 600)")
    parser.add_argument("--max-connection", type=float, default=7200, help="seconds (API Gateway: 7200)")
    parser.add_argument("--post-delay-ms", type=float, default=0,
                        help="latency added to each management API post (benchmarks)")
    parser.add_argument("--outbox-bytes", type=int, default=OUTBOX_BYTES,
                        help="frames buffered for a connection before it is closed as not reading")
    parser.add_argument("--send-timeout", type=float, default=SEND_TIMEOUT,
                        help="seconds a frame may wait on a connection before it is closed as not reading")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
