"""Reconnect soak: clients lose their socket again and again while others keep sending; after
each re-join with `after`, what they have seen is exactly the stored history.

The readers behave as contract v2 asks of a client: they track the last *contiguous* seq,
resume `after` the id of that message, and when a live frame's seq jumps (n, then n+2)
they ask `history` `after` the last contiguous id; duplicates are dropped by id.

Each cycle drops one reader's connection in one of three ways: the client closes it, the
server closes it (the management API's `DELETE /@connections/{id}`, the id found through the
local server's loopback-only `GET /@connections`), or the TCP connection just dies (no close
frame; the server finds out by itself). Meanwhile three senders send without pause. The reader
re-connects and re-joins with `after` = the newest message id it has seen, and merges the
joined page with the live frames by id, as a client must (a message stored while the join
runs can come both ways).

Checked at the end against the room's stored history (REST):
- 0 lost: every stored message is in every reader's view, and nothing else is;
- 0 duplicated: no connection got the same message frame twice, and no joined page repeats
  a message or one the reader had already seen before it dropped;
- order kept: every joined page is exactly the stored messages right after its `after`,
  oldest first; each sender's messages reach each connection in the order they were sent.

`SOAK_CYCLES` (default 10 in `make test`; `make soak` runs 100). API Gateway's own connection
limits (idle 10 min, 2 h) are simulated and tested in tests/e2e/test_websocket.py
(test_idle_and_maximum_connection_limits).
"""
import json
import os
import random
import threading
import time

from websockets.exceptions import ConnectionClosed

from reliability_support import close_from_server, open_connections
from support import Api, Ws

CYCLES = int(os.environ.get("SOAK_CYCLES", "10"))
DROPS = ("client", "server", "abrupt")


class Reader:
    """A client that keeps reconnecting; its view is every message it learnt of, by id."""

    def __init__(self, base, token, username, room):
        self.base, self.token, self.username, self.room = base, token, username, room
        self.client = None
        self.view: dict[str, dict] = {}
        self.rejoins: list[tuple[str | None, list[dict], bool]] = []  # (after, joined messages, more)
        self.live_duplicates = 0
        self.page_duplicates = 0
        self.overlaps = 0  # a message both live and in a joined page (the join race): merged by id
        self.out_of_order = 0
        self.drops = dict.fromkeys(DROPS, 0)
        self.gaps_filled = 0  # live seq jumps answered with a `history` request
        self._live_ids: set[str] = set()
        self._last_index: dict[str, int] = {}
        self._by_seq: dict[int, str] = {}
        self._contiguous = 0

    def _keep(self, message):
        self.view[message["id"]] = message
        self._by_seq[message["seq"]] = message["id"]
        while self._contiguous + 1 in self._by_seq:
            self._contiguous += 1

    def last_seen(self) -> str | None:
        """Where to resume: the id of the last message of the contiguous run 1..n."""
        return self._by_seq.get(self._contiguous)

    def _live(self, message):
        if message["id"] in self._live_ids:
            self.live_duplicates += 1
        self._live_ids.add(message["id"])
        if message["id"] in self.view:
            self.overlaps += 1
        gap = message["seq"] > self._contiguous + 1 and message["id"] not in self.view
        self._keep(message)
        if gap and self._contiguous + 1 not in self._by_seq:
            self.gaps_filled += 1
            frame = {"action": "history", "room": self.room}
            if self.last_seen():
                frame["after"] = self.last_seen()
            try:
                self.client.send(frame)
            except ConnectionClosed:
                pass  # dropping: the re-join asks for the same
        sender, _, index = message["text"].rpartition("-")
        if int(index) < self._last_index.get(sender, -1):
            self.out_of_order += 1
        self._last_index[sender] = int(index)

    def connect(self):
        """Connects and joins with `after`; live frames that beat the joined frame are kept."""
        self.client = Ws(self.base, self.token)
        self._live_ids = set()
        self._last_index = {}
        after = self.last_seen()
        frame = {"action": "join", "room": self.room}
        if after:
            frame["after"] = after
        self.client.send(frame)
        early = []
        while True:
            data = json.loads(self.client.socket.recv(timeout=15))
            if data["type"] == "joined":
                break
            if data["type"] == "message":
                early.append(data["message"])
        seen_before = set(self.view)
        page = data["messages"]
        if len({message["id"] for message in page}) != len(page) or seen_before & {m["id"] for m in page}:
            self.page_duplicates += 1
        self.rejoins.append((after, page, data["more"]))
        for message in page:
            self._keep(message)
        for message in early:
            self._live(message)
        # A page is at most 100 messages: page on, as a client does, until `more` is false.
        more = data["more"]
        while more:
            history = self.client.request({"action": "history", "room": self.room, "after": self.last_seen()},
                                          "history")
            for message in history["messages"]:
                self._keep(message)
            more = history["more"]

    def listen(self, seconds: float):
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                data = json.loads(self.client.socket.recv(timeout=remaining))
            except TimeoutError:
                return
            if data["type"] == "message":
                self._live(data["message"])
            elif data["type"] == "history":
                for message in data["messages"]:
                    self._keep(message)

    def drop(self, how: str):
        self.drops[how] += 1
        if how == "client":
            self.client.close()
        elif how == "abrupt":
            self.client.socket.socket.close()  # no close frame: the server learns it on its own
        else:
            mine = [item for item in open_connections(self.base) if item["Username"] == self.username]
            newest = max(mine, key=lambda item: item["ConnectedAt"])
            assert close_from_server(self.base, newest["ConnectionId"]) == 204
            # The server's close frame arrives after whatever it had posted before: keep those.
            try:
                while True:
                    data = json.loads(self.client.socket.recv(timeout=10))
                    if data["type"] == "message":
                        self._live(data["message"])
            except ConnectionClosed:
                assert self.client.socket.close_code == 1000
        self.client = None


def _sender(base, token, name, room, stop: threading.Event, errors: list, retries: dict):
    client = Ws(base, token)
    try:
        client.request({"action": "join", "room": room}, "joined")
        index = 0
        while not stop.is_set():
            client_id = f"{name}-{index}"
            frame = {"action": "send", "room": room, "text": client_id, "client_id": client_id}
            client.send(frame)
            while True:  # our own echo; other frames are not this thread's business
                data = json.loads(client.socket.recv(timeout=15))
                if data["type"] == "message" and data["message"]["client_id"] == client_id:
                    break
                if data["type"] == "error" and data["code"] == "unavailable" and data["client_id"] == client_id:
                    retries[name] = retries.get(name, 0) + 1  # retryable: again, same client_id
                    client.send(frame)
                    continue
                assert data["type"] in ("message", "presence"), data
            index += 1
            time.sleep(random.uniform(0, 0.02))
    except Exception as error:  # noqa: BLE001 - reported by the test
        errors.append(f"{name}: {type(error).__name__}: {error}")
    finally:
        client.close()


def _history(api, token, room) -> list[dict]:
    messages, before = [], None
    while True:
        query = "?limit=100" + (f"&before={before}" if before else "")
        status, body, _ = api.call("GET", f"/chatrooms/{room}/messages{query}", token=token)
        assert status == 200, body
        messages = body["messages"] + messages
        if not body["more"]:
            return messages
        before = body["messages"][0]["id"]


def test_reconnecting_clients_lose_nothing_and_see_no_duplicates(server):
    api = Api(server)
    owner_token, _ = api.register()
    room = api.create_room(owner_token)["id"]
    rng = random.Random(CYCLES)
    readers = []
    for _ in range(2):
        token, user = api.register()
        reader = Reader(server, token, user["username"], room)
        reader.connect()
        readers.append(reader)
    stop, errors, retries = threading.Event(), [], {}
    senders = [threading.Thread(target=_sender, args=(server, api.register()[0], f"s{index}", room, stop, errors,
                                                      retries),
                                daemon=True) for index in range(3)]
    started = time.monotonic()
    for thread in senders:
        thread.start()
    try:
        for cycle in range(CYCLES):
            reader = readers[cycle % len(readers)]
            for other in readers:
                other.listen(rng.uniform(0.05, 0.2))
            reader.drop(DROPS[cycle % len(DROPS)])
            for other in readers:
                if other is not reader:
                    other.listen(rng.uniform(0.05, 0.2))
            reader.connect()
            assert not errors, errors
    finally:
        stop.set()
        for thread in senders:
            thread.join(timeout=30)
    assert not errors, errors
    for reader in readers:  # the last frames, then a last catch-up the way a client would
        reader.listen(0.5)
        reader.drop("client")
        reader.connect()
        reader.client.close()
    stored = _history(api, readers[0].token, room)  # a member: the creator is not one
    stored_ids = [message["id"] for message in stored]
    elapsed = time.monotonic() - started
    assert len(set(stored_ids)) == len(stored_ids) and stored_ids == sorted(stored_ids)
    assert [message["seq"] for message in stored] == list(range(1, len(stored) + 1)), "seq has gaps"
    report, problems = [], []
    for number, reader in enumerate(readers):
        view_ids = sorted(reader.view)
        lost = set(stored_ids) - set(view_ids)
        extra = set(view_ids) - set(stored_ids)
        gaps = []  # joined pages that skipped a message stored right after their `after`
        for after, page, _ in reader.rejoins:  # exactly the missed messages, oldest first, no gap
            if after:
                start = stored_ids.index(after) + 1
                if page != stored[start:start + len(page)]:
                    expected = [m["id"] for m in stored[start:start + len(page)]]
                    missing = sorted(set(expected) - {m["id"] for m in page})
                    gaps.append(f"join after {after} skipped {missing[:3]}")
        report.append(f"reader {number}: {len(view_ids)} seen, {len(lost)} lost, {len(extra)} unknown, "
                      f"{reader.live_duplicates} live duplicates, {reader.page_duplicates} pages with duplicates, "
                      f"{reader.out_of_order} out of order, {len(gaps)} of {len(reader.rejoins)} joined pages "
                      f"with a gap, {reader.overlaps} join/live overlaps, {reader.gaps_filled} live seq gaps filled, "
                      f"drops {reader.drops}")
        if lost:
            problems.append(f"reader {number} lost {sorted(lost)[:5]}")
        if extra or reader.live_duplicates or reader.page_duplicates or reader.out_of_order:
            problems.append(f"reader {number}: unknown, duplicated or reordered messages")
        if not lost and not extra and [reader.view[key] for key in view_ids] != stored:
            problems.append(f"reader {number}: a message differs from the stored one")
        if reader._contiguous != len(stored):
            problems.append(f"reader {number}: contiguous to seq {reader._contiguous} of {len(stored)}")
        if gaps:
            problems.append(f"reader {number}: {gaps[:3]} (a message with a smaller id was stored after "
                            f"a larger one was delivered: ids are not in commit order)")
    summary = (f"soak: {CYCLES} cycles in {elapsed:.0f} s, {len(stored)} messages stored by 3 senders "
               f"({sum(retries.values())} sends retried after `unavailable`); "
               + "; ".join(report))
    print("\n" + summary)
    assert not problems, "\n".join(problems) + "\n" + summary
