"""fanout: wall time of one `send` into a room of N connections when every
post_to_connection takes 20 ms, against posting one after the other (N x 20 ms).

Rooms up to FANOUT_BATCH_THRESHOLD connections are posted to from the send handler
(chalicelib/notifier.py, MAX_PARALLEL_POSTS at a time). Bigger rooms are handed to the
SQS fan-out worker: the send handler queues batches of connection ids, and the worker
(app.fanout_worker, driven here with the event Lambda's SQS poller sends) posts them.

    python -m bench.fanout [--size full|tiny]
"""
import statistics
import time

from bench import cli, harness
from bench.harness import app_over_moto, aws_session, sqs_event, target, ws_event
from localserver.events import lambda_context

POST_LATENCY = 0.020
# moto answers a DynamoDB Query of 1,000 items in ~0.3 s of Python; DynamoDB in ~10 ms.
# Times below take moto's share out and count AWS_CALL_LATENCY per DynamoDB/SQS call.
AWS_CALL_LATENCY = 0.010
LAMBDA_MEMORY_MB = 512          # .chalice/config.json lambda_memory_size
LAMBDA_MB_PER_VCPU = 1769       # AWS: a function gets one full vCPU at 1,769 MB
INTEGRATION_TIMEOUT = 29.0      # API Gateway's integration timeout
SIZES = {
    "full": {"direct": (100, 1000), "queued": 5000, "threshold": 2000, "batch": None, "repeats": 3},
    "tiny": {"direct": (5, 20), "queued": 60, "threshold": 50, "batch": 25, "repeats": 1},
}
DIRECT_LIMIT_N, DIRECT_LIMIT_S = 1000, 0.5


def run(size: str = "full") -> dict:
    plan = SIZES[size]
    from moto import mock_aws
    started = time.perf_counter()
    with mock_aws():
        sqs = aws_session().client("sqs")
        queue_url = sqs.create_queue(QueueName="chat-fanout")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        container, recorder, world = app_over_moto(capacity=False, post_latency=POST_LATENCY,
                                                   fanout_queue_url=queue_url,
                                                   fanout_batch_threshold=plan["threshold"])
        import app as chat_app
        from chalicelib import notifier
        if plan["batch"]:
            notifier.FANOUT_BATCH = plan["batch"]

        broadcast_seconds = harness.record_spans(notifier.Notifier, "broadcast")

        def room_of(count):
            names = [f"n{count}u{index:05d}" for index in range(count)]
            room_id = world.room(names[0])
            return room_id, world.connections(names, [room_id])

        def send(connections, room_id, text):
            broadcast_seconds.clear()
            with recorder.measure():
                begin = time.perf_counter()
                chat_app.ws_message(ws_event("send", connections[0], {"action": "send", "room": room_id,
                                                                      "text": text}), lambda_context())
                wall = time.perf_counter() - begin
            calls = recorder.snapshot()
            mock = sum(calls["mock_seconds"].values())
            aws_calls = calls["dynamodb_calls"] + sum(calls["other_calls"].get("sqs", {}).values())
            wall = wall - mock + aws_calls * AWS_CALL_LATENCY
            calls["moto_seconds_taken_out"] = round(mock, 4)
            fan_out = sum(entry[0] for entry in broadcast_seconds)
            fan_out_cpu = sum(entry[1] for entry in broadcast_seconds)
            return wall, fan_out_cpu, fan_out, calls, dict(recorder.posted)

        def check_delivery(connections, posted):
            missing = [cid for cid in connections if posted.get(cid, 0) == 0]
            repeated = [cid for cid in connections if posted.get(cid, 0) > 1]
            return {"delivered": len(connections) - len(missing), "missing": len(missing),
                    "duplicates": len(repeated)}

        # Warm the container as a second message would find it: clients, thread pool.
        warm_room, warm_connections = room_of(3)
        send(warm_connections, warm_room, "warm-up")

        direct = {}
        for count in plan["direct"]:
            room_id, connections = room_of(count)
            runs = []
            for attempt in range(plan["repeats"]):
                wall, cpu, fan_out, calls, posted = send(connections, room_id, f"hello {attempt}")
                runs.append((wall, cpu, fan_out, calls, check_delivery(connections, posted)))
            wall, cpu, fan_out, calls, delivery = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
            sequential = count * POST_LATENCY
            direct[str(count)] = {
                "path": "direct", "send_wall_s": round(wall, 4), "fan_out_s": round(fan_out, 4),
                "fan_out_cpu_s": round(cpu, 4), "sequential_s": round(sequential, 3),
                "speedup": round(sequential / wall, 1), "runs_wall_s": [round(run[0], 4) for run in runs],
                "moto_s_taken_out": calls["moto_seconds_taken_out"], "dynamodb_calls": calls["dynamodb_calls"],
                "post_to_connection": calls["post_to_connection"], **delivery}

        # The big room: first posted from the handler (to compare), then through the workers.
        count = plan["queued"]
        room_id, connections = room_of(count)
        # The same container without its queue (cached_property takes the assignment): the
        # same clients and the same guess of the room's next seq, so only the path differs.
        queue = container.fanout
        container.fanout = None
        wall, cpu, fan_out, calls, posted = send(connections, room_id, "all from the handler")
        direct[str(count)] = {
            "path": "direct (for comparison)", "send_wall_s": round(wall, 4), "fan_out_s": round(fan_out, 4),
            "fan_out_cpu_s": round(cpu, 4), "sequential_s": round(count * POST_LATENCY, 3),
            "speedup": round(count * POST_LATENCY / wall, 1), "moto_s_taken_out": calls["moto_seconds_taken_out"],
            "dynamodb_calls": calls["dynamodb_calls"],
            "post_to_connection": calls["post_to_connection"], **check_delivery(connections, posted)}
        direct_calls = calls["dynamodb_calls"]
        # The biggest room's CPU per post: the three DynamoDB calls are noise there.
        cpu_ms = cpu / max(1, calls["post_to_connection"]) * 1000

        container.fanout = queue
        wall, cpu, fan_out, send_calls, posted = send(connections, room_id, "through the workers")
        assert not posted, "the send handler posted itself"
        bodies = []
        while True:
            received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not received:
                break
            for message in received:
                bodies.append(message["Body"])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        worker_walls = []
        with recorder.measure():
            for body in bodies:
                begin = time.perf_counter()
                chat_app.fanout_worker(sqs_event([body], queue_arn), lambda_context())
                worker_walls.append(time.perf_counter() - begin)
            worker_calls = recorder.snapshot()
            delivery = check_delivery(connections, dict(recorder.posted))
        queued = {
            "path": "SQS workers", "recipients": count, "threshold": plan["threshold"],
            "batch_size": notifier.FANOUT_BATCH, "sqs_messages": send_calls["sqs_messages"],
            "send_wall_s": round(wall, 4), "moto_s_taken_out": send_calls["moto_seconds_taken_out"],
            "send_dynamodb_calls": send_calls["dynamodb_calls"],
            "send_dynamodb": send_calls["dynamodb"], "send_other_calls": send_calls["other_calls"],
            "worker_invocations": len(worker_walls),
            "worker_wall_s": {"max": round(max(worker_walls), 4), "median": round(statistics.median(worker_walls), 4),
                              "sum": round(sum(worker_walls), 4)},
            "worker_dynamodb_calls": worker_calls["dynamodb_calls"],
            "worker_post_to_connection": worker_calls["post_to_connection"],
            # Measured here one after the other; in AWS each batch is its own Lambda call
            # (batch_size=1), so the slowest batch bounds delivery once they run side by side.
            "end_to_end_one_worker_at_a_time_s": round(wall + sum(worker_walls), 3),
            "end_to_end_workers_in_parallel_s": round(wall + max(worker_walls), 3),
            "sequential_s": round(count * POST_LATENCY, 3),
            **delivery,
        }

    share = LAMBDA_MEMORY_MB / LAMBDA_MB_PER_VCPU
    io_rate = notifier.MAX_PARALLEL_POSTS / POST_LATENCY
    cpu_rate = share / (cpu_ms / 1000)
    lambda_model = {
        "note": "estimate: CPU per post measured here (botocore's work for one PostToConnection), "
                "scaled to the vCPU share Lambda gives the configured memory",
        "cpu_ms_per_post_here": round(cpu_ms, 3), "lambda_memory_mb": LAMBDA_MEMORY_MB,
        "lambda_vcpu_share": round(share, 3), "posts_per_s_io_bound": round(io_rate),
        "posts_per_s_cpu_bound": round(cpu_rate), "max_parallel_posts": notifier.MAX_PARALLEL_POSTS,
        "recipients_within_integration_timeout": int(INTEGRATION_TIMEOUT * min(io_rate, cpu_rate)),
        "seconds_for_threshold_recipients": round(plan["threshold"] / min(io_rate, cpu_rate), 2),
    }
    check_n = str(DIRECT_LIMIT_N if size == "full" else plan["direct"][-1])
    targets = [
        target(f"send to {check_n} recipients (s)", direct[check_n]["send_wall_s"], DIRECT_LIMIT_S,
               direct[check_n]["send_wall_s"] <= DIRECT_LIMIT_S),
        target(f"{count} via workers: send's DynamoDB calls unchanged", queued["send_dynamodb_calls"],
               direct_calls, queued["send_dynamodb_calls"] == direct_calls),
        target(f"{count} via workers: every connection posted once", queued["delivered"], count,
               queued["delivered"] == count and queued["duplicates"] == 0),
        target(f"{count} via workers: send handler posts nothing itself (s)", queued["send_wall_s"],
               DIRECT_LIMIT_S, queued["send_wall_s"] <= DIRECT_LIMIT_S),
    ]
    targets += [target(f"{n} direct: every connection posted once", entry["delivered"], int(n),
                       entry["delivered"] == int(n) and entry["duplicates"] == 0) for n, entry in direct.items()]
    return {"benchmark": "fanout", "size": size, "post_latency_ms": POST_LATENCY * 1000,
            "max_parallel_posts": notifier.MAX_PARALLEL_POSTS, "direct": direct, "queued": queued,
            "lambda_model": lambda_model, "targets": targets, "seconds": round(time.perf_counter() - started, 2)}


if __name__ == "__main__":
    cli.main(run)
