"""`python -m bench` (`make bench`): runs the benchmarks, each in a fresh process, prints
one JSON object per benchmark on stdout and writes them all to bench/results/latest.json.

    python -m bench [calls fanout coldstart cost local] [--size full|tiny] [--out FILE]

Exits 1 when a benchmark fails or misses one of its targets. Progress goes to stderr.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone

from bench.harness import ROOT

BENCHMARKS = ("calls", "fanout", "coldstart", "cost", "local")
TIMEOUTS = {"calls": 300, "fanout": 300, "coldstart": 400, "cost": 400, "local": 600}


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except OSError:
        return None


def _run_one(name: str, size: str) -> dict:
    command = [sys.executable, "-m", f"bench.{name}", "--size", size]
    try:
        process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUTS[name])
    except subprocess.TimeoutExpired:
        return {"benchmark": name, "size": size, "ok": False, "error": f"timed out after {TIMEOUTS[name]} s"}
    lines = [line for line in process.stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        return {"benchmark": name, "size": size, "ok": False,
                "error": f"exit status {process.returncode}", "stderr_tail": process.stderr[-3000:]}
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--size", choices=("full", "tiny"), default="full")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.json"))
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    names = args.names or list(BENCHMARKS)
    run = {"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git_commit": _git_commit(),
           "size": args.size, "python": platform.python_version(), "machine": platform.machine(),
           "cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in os.getloadavg()]}
    results = []
    for name in names:
        began = time.monotonic()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        result = _run_one(name, args.size)
        results.append(result)
        print(json.dumps(result), flush=True)
        missed = [entry["name"] for entry in result.get("targets", []) if not entry["ok"]]
        status = "ok" if result.get("ok") else ("FAILED: " + (result.get("error") or "; ".join(missed)))
        print(f"bench: {name} {status} ({time.monotonic() - began:.0f} s)", file=sys.stderr, flush=True)
    run["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump({"run": run, "benchmarks": results}, handle, indent=2)
        handle.write("\n")
    print(f"bench: wrote {args.out}", file=sys.stderr)
    return 0 if all(result.get("ok") for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
