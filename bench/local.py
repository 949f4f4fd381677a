"""local: the local server (python -m localserver) under load, on loopback only.

CLIENTS WebSocket clients (the `websockets` package, asyncio), one user each, spread over
ROOMS rooms, send `send` frames at a fixed total RATE for DURATION seconds, round-robin.
Every client records every `message` frame it gets. Reported: messages delivered per
second, end-to-end latency (send -> each recipient's receipt) p50/p95/p99, error frames,
lost deliveries (expected: every member of the room, the sender included, gets each
message once) and duplicates.

    python -m bench.local [--size full|tiny] [--rate R] [--duration S]

The server runs with BCRYPT_ROUNDS=4 and no practical limit on new accounts per address:
registering the users is set-up, not what is measured.
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.harness import ROOT, emit, target

PLANS = {
    # The local server keeps up with ~7 messages/s into rooms of 20 on a 2-core machine
    # (docs/performance.md); 4/s leaves it headroom, so latency means latency, not queueing.
    "full": {"clients": 200, "rooms": 10, "rate": 4.0, "duration": 30.0},
    "tiny": {"clients": 6, "rooms": 2, "rate": 10.0, "duration": 2.0},
}
DRAIN_SECONDS = 15.0
CONNECT_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`python -m localserver` on a free loopback port with a throw-away data directory."""

    def __init__(self, data_dir: Path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("AWS_ENDPOINT_URL") and key not in (
                   "USERS_TABLE", "ROOMS_TABLE", "CONNECTIONS_TABLE", "MESSAGES_TABLE", "JWT_SECRET",
                   "JWT_SECRET_PARAM", "WS_MANAGEMENT_URL", "FANOUT_QUEUE_URL")}
        # Registering the clients is set-up: every one of them registers from this address.
        env.update({"BCRYPT_ROUNDS": "4", "REGISTER_LIMIT": "100000", "PYTHONUNBUFFERED": "1"})
        self.log = open(data_dir / "server.log", "w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "localserver", "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", str(data_dir)], cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                urllib.request.urlopen(self.base + "/config.json", timeout=2).read()
                return
            except OSError:
                time.sleep(0.2)
        self.log.seek(0)
        raise RuntimeError("the local server did not start:\n" + self.log.read()[-3000:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


async def _post(session, url: str, body: dict, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(url, json=body, headers=headers) as response:
        payload = await response.json()
        if response.status >= 300:
            raise RuntimeError(f"POST {url}: {response.status} {payload}")
        return payload


class Client:
    def __init__(self, index: int, username: str, token: str, room: str):
        self.index, self.username, self.token, self.room = index, username, token, room
        self.socket = None
        self.received: dict[int, float] = {}
        self.duplicates = 0
        self.errors: list[dict] = []
        self.joined = asyncio.Event()
        self.warm = False

    async def read(self) -> None:
        async for raw in self.socket:
            now = time.monotonic()
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "message":
                client_id = frame["message"].get("client_id") or ""
                if client_id == "warm":
                    self.warm = True
                elif client_id.startswith("k"):
                    number = int(client_id[1:])
                    if number in self.received:
                        self.duplicates += 1
                    else:
                        self.received[number] = now
            elif kind == "joined":
                self.joined.set()
            elif kind == "error":
                self.errors.append(frame)


async def _load(base: str, plan: dict) -> dict:
    import aiohttp
    from websockets.asyncio.client import connect

    run_id = os.urandom(3).hex()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        api = base + "/api"
        semaphore = asyncio.Semaphore(16)

        async def register(index):
            async with semaphore:
                name = f"load{run_id}{index:03d}"
                body = await _post(session, api + "/auth/register", {
                    "username": name, "email": f"{name}@example.com", "password": "correct horse battery"})
                return name, body["token"]
        users = await asyncio.gather(*(register(index) for index in range(plan["clients"])))
        rooms = []
        for index in range(plan["rooms"]):
            body = await _post(session, api + "/chatrooms", {"name": f"load {run_id} {index}"}, users[index][1])
            rooms.append(body["room"]["id"])

    clients = [Client(index, name, token, rooms[index % len(rooms)]) for index, (name, token) in enumerate(users)]
    readers = []
    ws_base = base.replace("http", "ws", 1) + "/ws?token="

    async def open_and_join(client):
        async with semaphore:
            client.socket = await connect(ws_base + client.token, open_timeout=CONNECT_TIMEOUT, max_size=None)
            readers.append(asyncio.create_task(client.read()))
            await client.socket.send(json.dumps({"action": "join", "room": client.room}))
            await asyncio.wait_for(client.joined.wait(), CONNECT_TIMEOUT)
    await asyncio.gather(*(open_and_join(client) for client in clients))

    members = {room: [client for client in clients if client.room == room] for room in rooms}
    # Warm-up, not counted: one message per room, every member waits for it.
    for room in rooms:
        await members[room][0].socket.send(json.dumps({"action": "send", "room": room, "text": "warm-up",
                                                       "client_id": "warm"}))
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while not all(client.warm for client in clients) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    total = int(plan["rate"] * plan["duration"])
    sent_at: dict[int, float] = {}
    lateness = []
    start = time.monotonic() + 0.5
    for number in range(total):
        due = start + number / plan["rate"]
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lateness.append(max(0.0, -delay))
        client = clients[number % len(clients)]
        sent_at[number] = time.monotonic()
        await client.socket.send(json.dumps({"action": "send", "room": client.room, "text": f"load message {number}",
                                             "client_id": f"k{number}"}))
    sending_s = time.monotonic() - start

    expected = sum(len(members[clients[number % len(clients)].room]) for number in range(total))

    def delivered():
        return sum(len(client.received) for client in clients)
    deadline = time.monotonic() + DRAIN_SECONDS
    while delivered() < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    last_receipt = max((max(client.received.values()) for client in clients if client.received), default=start)

    for client in clients:
        await client.socket.close()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)

    latencies = sorted((at - sent_at[number]) * 1000 for client in clients for number, at in client.received.items())
    count = delivered()

    def percentile(share):
        return round(latencies[min(len(latencies) - 1, int(share * len(latencies)))], 1) if latencies else None
    return {
        "clients": plan["clients"], "rooms": plan["rooms"], "rate_msg_per_s": plan["rate"],
        "duration_s": plan["duration"], "messages_sent": total, "sending_s": round(sending_s, 2),
        "sender_max_late_ms": round(max(lateness, default=0) * 1000, 1),
        "deliveries_expected": expected, "deliveries": count,
        "delivered_per_s": round(count / max(1e-9, last_receipt - start), 1),
        "latency_ms": {"p50": percentile(0.50), "p95": percentile(0.95), "p99": percentile(0.99),
                       "max": round(latencies[-1], 1) if latencies else None,
                       "mean": round(statistics.fmean(latencies), 1) if latencies else None},
        "errors": sum(len(client.errors) for client in clients),
        "error_codes": sorted({frame.get("code") for client in clients for frame in client.errors}),
        "lost": expected - count, "duplicates": sum(client.duplicates for client in clients),
    }


def run(size: str = "full", rate: float | None = None, duration: float | None = None) -> dict:
    plan = dict(PLANS[size])
    if rate:
        plan["rate"] = rate
    if duration:
        plan["duration"] = duration
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-local-") as data_dir:
        server = Server(Path(data_dir))
        try:
            server.wait_ready()
            result = asyncio.run(asyncio.wait_for(_load(server.base, plan), plan["duration"] + 240))
        finally:
            server.stop()
    targets = [target("lost deliveries", result["lost"], 0, result["lost"] == 0),
               target("duplicate deliveries", result["duplicates"], 0, result["duplicates"] == 0),
               target("error frames", result["errors"], 0, result["errors"] == 0)]
    return {"benchmark": "local", "size": size, **result, "targets": targets,
            "seconds": round(time.perf_counter() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", choices=("full", "tiny"), default="full")
    parser.add_argument("--rate", type=float, help="messages per second, all clients together")
    parser.add_argument("--duration", type=float, help="seconds of sending")
    args = parser.parse_args()
    result = run(args.size, args.rate, args.duration)
    result["ok"] = all(entry["ok"] for entry in result["targets"])
    emit(result)


if __name__ == "__main__":
    main()
