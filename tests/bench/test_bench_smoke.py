"""Runs every benchmark once at its tiny size (`python -m bench --size tiny`) to keep them
working. Asserts the JSON shape and the targets that do not depend on size or on how busy
the machine is (no Scans, send's DynamoDB calls, nothing lost); timings are not asserted."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
BENCHMARKS = ["calls", "fanout", "coldstart", "cost", "local"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "latest.json"
    process = subprocess.run([sys.executable, "-m", "bench", "--size", "tiny", "--out", str(out)], cwd=ROOT,
                             capture_output=True, text=True, timeout=240)
    printed = [json.loads(line) for line in process.stdout.splitlines() if line.strip()]
    assert [result["benchmark"] for result in printed] == BENCHMARKS, process.stderr[-3000:]
    written = json.loads(out.read_text())
    assert written["benchmarks"] == printed
    for result in printed:
        assert "error" not in result, result
        assert isinstance(result["targets"], list) and result["targets"]
        for entry in result["targets"]:
            assert set(entry) >= {"name", "value", "limit", "ok"}
    return {result["benchmark"]: result for result in printed}


def test_calls_no_scans_and_send_within_three_calls(results):
    actions = results["calls"]["actions"]
    expected = {"dm", "join (new member)", "join (after, rejoin)", "history", "$connect",
                "$disconnect (in 5 rooms)", "login (username)", "login (email)"}
    assert expected <= set(actions)
    sends = [name for name in actions if name.startswith("send room=")]
    assert len(sends) == 3
    for name, action in actions.items():
        assert set(action) >= {"dynamodb", "dynamodb_calls", "scans", "items_read", "post_to_connection",
                               "read_request_units", "write_request_units"}
        assert action["scans"] == 0, name
        assert action["dynamodb_calls"] == sum(action["dynamodb"].values())
    for name in sends:
        assert actions[name]["dynamodb_calls"] <= 3, actions[name]
        assert actions[name]["post_to_connection"] == int(name.split("=")[1])
    assert actions["$disconnect (in 5 rooms)"]["post_to_connection"] == 5


def test_fanout_delivers_everything_and_workers_keep_send_calls(results):
    fanout = results["fanout"]
    for entry in fanout["direct"].values():
        assert entry["missing"] == 0 and entry["duplicates"] == 0
        assert entry["sequential_s"] > 0 and entry["send_wall_s"] > 0
    queued = fanout["queued"]
    assert queued["sqs_messages"] >= 2 and queued["worker_invocations"] == queued["sqs_messages"]
    assert queued["missing"] == 0 and queued["duplicates"] == 0
    assert queued["send_dynamodb_calls"] == fanout["direct"][str(queued["recipients"])]["dynamodb_calls"] <= 3
    assert queued["worker_dynamodb_calls"] == 0
    assert set(fanout["lambda_model"]) >= {"cpu_ms_per_post_here", "recipients_within_integration_timeout"}


def test_coldstart_shape(results):
    coldstart = results["coldstart"]
    assert coldstart["import"]["app_import_ms"] > 0 and coldstart["import"]["bare_chalice_import_ms"] > 0
    assert {row["module"] for row in coldstart["import"]["app_imports"]} <= {"chalice", "chalicelib.errors",
                                                                            "logging", "os", "functools"}
    assert coldstart["first_send"]["first_send_ms"] > 0
    assert coldstart["first_send"]["posts_seen"] == coldstart["first_send"]["posts_expected"]
    assert "chalice_package" in coldstart["package"]


def test_cost_model_shape_and_direction(results):
    cost = results["cost"]
    assert set(cost["prices"]) >= {"date", "region", "apigw_websocket_per_million_messages",
                                   "lambda_per_gb_second", "dynamodb_on_demand_per_million_read_units"}
    for entry in cost["rooms"].values():
        ours, scan = entry["query"], entry["scan"]
        assert ours["send"]["scans"] == 0 and scan["send"]["scans"] == 1
        assert ours["send"]["read_request_units"] < scan["send"]["read_request_units"]
        assert ours["usd_per_million_messages"]["dynamodb_reads"] < scan["usd_per_million_messages"]["dynamodb_reads"]


def test_local_server_loses_nothing(results):
    local = results["local"]
    assert local["messages_sent"] > 0
    assert local["deliveries"] == local["deliveries_expected"]
    assert local["lost"] == 0 and local["duplicates"] == 0 and local["errors"] == 0
    assert local["latency_ms"]["p50"] is not None
