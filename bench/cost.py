"""cost: USD per million messages sent into rooms of 10, 100 and 1,000 online members,
from counts measured by running the real handlers against moto, priced with the list
prices below. Side by side: the same app with its room lookup replaced by a Scan of the
whole connections table (bench.harness.ScanDesign), priced the same way.

    python -m bench.cost [--size full|tiny]

What is measured per design and room size, with ONLINE_CONNECTIONS connections in the
app (the room's N, the rest in rooms of 10): one `send` and one session of a member
($connect, join, $disconnect), each as DynamoDB read/write request units (from item
sizes, see bench.harness), posts and their bytes, AWS calls and the handler's own time.
What is modelled is in ASSUMPTIONS.
"""
import gc
import json
import math
import time

from bench import cli, harness
from bench.harness import ROOT, app_over_moto, target, ws_event
from localserver.events import lambda_context

# Public list prices, us-east-1, in USD. Recorded 2026-11-24 from the AWS pricing pages
# as last seen (DynamoDB on-demand after its 2024-11-01 price cut); not re-checked online
# from the machine that ran this. Free tiers are left out.
PRICES = {
    "date": "2026-11-24",
    "region": "us-east-1",
    "apigw_websocket_per_million_messages": 1.00,          # first billion a month; 32 KB increments
    "apigw_websocket_per_million_connection_minutes": 0.25,
    "lambda_per_million_requests": 0.20,
    "lambda_per_gb_second": 0.0000166667,                  # x86
    "dynamodb_on_demand_per_million_write_units": 0.625,
    "dynamodb_on_demand_per_million_read_units": 0.125,
    "sqs_standard_per_million_requests": 0.40,
    "data_transfer_out_per_gb": 0.09,                      # to the internet, first 10 TB a month
}
ASSUMPTIONS = {
    "online_connections": 1000,
    # Each online member sends a message every 10 minutes: 10 connection-minutes per message.
    "minutes_between_messages_per_member": 10,
    # A session (connect, join one room, disconnect) lasts an hour: 1/6 session per message.
    "session_minutes": 60,
    # What a DynamoDB or SQS call takes in AWS (moto's own time is taken out).
    "aws_call_latency_s": 0.010,
    "post_latency_s": 0.020,
    # Lambda gives one vCPU at 1,769 MB; CPU time measured here is scaled by memory/1769.
    "lambda_mb_per_vcpu": 1769,
    # Frames over the wire carry WebSocket framing and TLS records on top of the payload.
    "bytes_overhead_per_frame": 40,
}
ROOM_SIZES = {"full": (10, 100, 1000), "tiny": (3, 10)}
ONLINE = {"full": 1000, "tiny": 30}
TARGET_RATIO = 0.1


def lambda_memory_mb() -> int:
    return json.loads((ROOT / ".chalice" / "config.json").read_text()).get("lambda_memory_size", 128)


def _measure(size: str, design: str, members: int) -> dict:
    """One world: `members` connections in the room, the rest of the online ones elsewhere."""
    from moto import mock_aws
    with mock_aws():
        _, recorder, world = app_over_moto(design, post_latency=0.0)
        import app as chat_app
        from chalicelib import notifier
        online = ONLINE[size]
        names = [f"m{index:05d}" for index in range(members)]
        room_id = world.room(names[0])
        filler = [f"f{index:05d}" for index in range(online - members)]
        groups = [filler[start:start + 10] for start in range(0, len(filler), 10)]
        groups = list(zip(groups, world.rooms([group[0] for group in groups])))
        connections = world.connections(names, [room_id], members=False)
        if groups:
            world.spread(groups)
        (newcomer,) = world.users(1, prefix="newcomer")

        posting = harness.record_spans(notifier.Notifier, "post_all")

        def op(handler, event, inbound: bool):
            posting.clear()
            # moto leaves garbage (deep copies of tables); collect it now, not in the handler.
            gc.collect()
            gc.disable()
            context = lambda_context()
            try:
                with recorder.measure():
                    cpu = time.thread_time()
                    getattr(chat_app, handler)(event, context)
                    cpu = time.thread_time() - cpu
            finally:
                gc.enable()
            calls = recorder.snapshot()
            calls["aws_calls"] = calls["dynamodb_calls"] + sum(calls["other_calls"].get("sqs", {}).values())
            # CPU time, not wall time: the machine running this may be busy with other work.
            # The handler's thread, less moto and the recorder (posts run on other threads).
            calls["own_cpu_s"] = max(0.0, cpu - calls["mock_cpu_seconds"] - calls["recorder_cpu_seconds"])
            calls["post_cpu_s"] = sum(entry[1] for entry in posting)
            calls["inbound_messages"] = int(inbound)
            return calls

        # A warm container: one send first, not counted.
        op("ws_message", ws_event("send", connections[1], {"action": "send", "room": room_id, "text": "warm"}),
           True)
        text = "A message of a typical length for a chat, some forty to eighty characters."
        send = op("ws_message", ws_event("send", connections[0], {"action": "send", "room": room_id, "text": text,
                                                                  "client_id": "cost-1"}), True)
        connection_id = world.new_connection_id()
        connect = op("ws_connect", ws_event("$connect", connection_id, query={"token": world.token(newcomer)}),
                     False)
        join = op("ws_message", ws_event("join", connection_id, {"action": "join", "room": room_id}), True)
        disconnect = op("ws_disconnect", ws_event("$disconnect", connection_id), False)
        assert send["post_to_connection"] == members, send
        return {"send": send, "session": {"$connect": connect, "join": join, "$disconnect": disconnect}}


def _lambda_seconds(op: dict, memory_mb: int, parallel_posts: int) -> float:
    """Billed duration of one invocation in Lambda: the handler's own CPU work and the
    posts' CPU scaled to Lambda's vCPU share, AWS calls at their latency, posts waiting
    in rounds of `parallel_posts` (whichever of CPU and waiting is longer)."""
    share = memory_mb / ASSUMPTIONS["lambda_mb_per_vcpu"]
    posts = op["post_to_connection"]
    waiting = math.ceil(posts / parallel_posts) * ASSUMPTIONS["post_latency_s"] if posts else 0.0
    posting = max(waiting, op["post_cpu_s"] / share)
    return op["own_cpu_s"] / share + op["aws_calls"] * ASSUMPTIONS["aws_call_latency_s"] + posting


def _usd(op: dict, memory_mb: int, parallel_posts: int) -> dict:
    """USD of one invocation, by line."""
    million = 1_000_000
    seconds = math.ceil(_lambda_seconds(op, memory_mb, parallel_posts) * 1000) / 1000  # billed per ms
    frames_bytes = op["posted_bytes"] + op["post_to_connection"] * ASSUMPTIONS["bytes_overhead_per_frame"]
    sqs = sum(op["other_calls"].get("sqs", {}).values())
    return {
        "apigw_messages": (op["inbound_messages"] + op["post_message_units"])
        * PRICES["apigw_websocket_per_million_messages"] / million,
        "lambda": PRICES["lambda_per_million_requests"] / million
        + seconds * memory_mb / 1024 * PRICES["lambda_per_gb_second"],
        "dynamodb_reads": op["read_request_units"] * PRICES["dynamodb_on_demand_per_million_read_units"] / million,
        "dynamodb_writes": op["write_request_units"] * PRICES["dynamodb_on_demand_per_million_write_units"]
        / million,
        "sqs": sqs * PRICES["sqs_standard_per_million_requests"] / million,
        "data_transfer": frames_bytes / 1e9 * PRICES["data_transfer_out_per_gb"],
    }


def price(measured: dict, memory_mb: int, parallel_posts: int) -> dict:
    """USD per million messages sent, by line, with the session costs spread over the
    messages a session sends and the connection-minutes each message stands for."""
    sessions_per_message = ASSUMPTIONS["minutes_between_messages_per_member"] / ASSUMPTIONS["session_minutes"]
    lines = _usd(measured["send"], memory_mb, parallel_posts)
    for op in measured["session"].values():
        for name, value in _usd(op, memory_mb, parallel_posts).items():
            lines[name] += value * sessions_per_message
    lines["apigw_connection_minutes"] = (ASSUMPTIONS["minutes_between_messages_per_member"]
                                         * PRICES["apigw_websocket_per_million_connection_minutes"] / 1_000_000)
    per_million = {name: round(value * 1_000_000, 4) for name, value in lines.items()}
    per_million["total"] = round(sum(lines.values()) * 1_000_000, 2)
    return per_million


def _summary(op: dict, memory_mb: int, parallel_posts: int) -> dict:
    return {"dynamodb": op["dynamodb"], "scans": op["scans"], "items_read": op["items_read"],
            "read_request_units": op["read_request_units"], "write_request_units": op["write_request_units"],
            "post_to_connection": op["post_to_connection"], "posted_bytes": op["posted_bytes"],
            "lambda_ms": round(_lambda_seconds(op, memory_mb, parallel_posts) * 1000, 1)}


def run(size: str = "full") -> dict:
    started = time.perf_counter()
    memory_mb = lambda_memory_mb()
    from chalicelib import notifier
    parallel_posts = notifier.MAX_PARALLEL_POSTS
    rooms = {}
    measured = {}
    for design in ("query", "scan"):
        for members in ROOM_SIZES[size]:
            measured[(design, members)] = _measure(size, design, members)
    for members in ROOM_SIZES[size]:
        entry = {}
        for design in ("query", "scan"):
            data = measured[(design, members)]
            entry[design] = {
                "usd_per_million_messages": price(data, memory_mb, parallel_posts),
                "send": _summary(data["send"], memory_mb, parallel_posts),
                "session": {name: _summary(op, memory_mb, parallel_posts) for name, op in data["session"].items()},
            }
        ours, scan = entry["query"]["usd_per_million_messages"], entry["scan"]["usd_per_million_messages"]
        entry["ratio_total"] = round(ours["total"] / scan["total"], 3)
        entry["ratio_dynamodb_reads"] = round(ours["dynamodb_reads"] / scan["dynamodb_reads"], 3)
        entry["ratio_send_read_units"] = round(entry["query"]["send"]["read_request_units"]
                                               / entry["scan"]["send"]["read_request_units"], 3)
        rooms[str(members)] = entry
    smallest = str(ROOM_SIZES[size][0])
    if size == "full":
        targets = [target(f"room of {smallest}, {ONLINE[size]} online: send's DynamoDB reads vs the Scan design",
                          rooms[smallest]["ratio_send_read_units"], TARGET_RATIO,
                          rooms[smallest]["ratio_send_read_units"] <= TARGET_RATIO,
                          "the part of a message's cost the room lookup decides; see docs/performance.md")]
    else:  # too few connections for the ratio to mean anything: only its direction
        targets = [target(f"room of {smallest}: send reads less than the Scan design",
                          rooms[smallest]["ratio_send_read_units"], 1, rooms[smallest]["ratio_send_read_units"] < 1)]
    targets += [target(f"room of {members}: Scans in send", entry["query"]["send"]["scans"], 0,
                       entry["query"]["send"]["scans"] == 0) for members, entry in rooms.items()]
    return {"benchmark": "cost", "size": size, "online_connections": ONLINE[size],
            "lambda_memory_mb": memory_mb, "prices": PRICES, "assumptions": ASSUMPTIONS, "rooms": rooms,
            "targets": targets, "seconds": round(time.perf_counter() - started, 2)}


if __name__ == "__main__":
    cli.main(run)
