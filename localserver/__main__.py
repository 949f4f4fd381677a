"""`python -m localserver`: the whole app on one local port, no AWS account needed."""
import argparse
import asyncio
import logging
import os
import secrets
import signal
import socket
import sys
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent


def _secret(data_dir: Path) -> str:
    """A JWT signing secret made once and kept with the data, so tokens outlive restarts."""
    path = data_dir / "jwt-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _configure_environment(data_dir: Path, base_url: str) -> None:
    defaults = {
        "USERS_TABLE": "chat-local-users", "ROOMS_TABLE": "chat-local-rooms",
        "CONNECTIONS_TABLE": "chat-local-connections", "MESSAGES_TABLE": "chat-local-messages",
        # moto accepts any credentials; these keep boto3 from looking for real ones.
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        "SITE_ORIGIN": base_url,
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    os.environ["JWT_SECRET"] = _secret(data_dir)
    os.environ["WS_MANAGEMENT_URL"] = base_url
    os.environ.pop("JWT_SECRET_PARAM", None)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def _serve(args) -> None:
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    base_url = f"http://{args.host}:{port}"
    _configure_environment(data_dir, base_url)

    from .dynamo import LocalDynamo
    from .gateway import Gateway
    sys.path.insert(0, str(ROOT))
    from app import app as chalice_app

    dynamo = LocalDynamo(data_dir)
    dynamo.start()
    gateway = Gateway(chalice_app, ROOT / "web", idle_timeout=args.idle_timeout,
                      max_lifetime=args.max_connection, post_delay=args.post_delay_ms / 1000)
    gateway.base_url = base_url
    runner = web.AppRunner(gateway.web_app(), access_log=None, handle_signals=False)
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
    parser.add_argument("--data-dir", default=str(ROOT / ".local"))
    parser.add_argument("--idle-timeout", type=float, default=600, help="seconds (API Gateway: 600)")
    parser.add_argument("--max-connection", type=float, default=7200, help="seconds (API Gateway: 7200)")
    parser.add_argument("--post-delay-ms", type=float, default=0,
                        help="latency added to each management API post (benchmarks)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
