"""coldstart: what a new Lambda container pays before and during its first `send`.

- import: `python -X importtime -c "import app"`, the cumulative time of the top-level
  `app` import, median of several runs, against a bare Chalice app with one route
  measured the same way in the same run (runs alternate, so load hits both alike);
- first send: a fresh process imports app and handles one `send`, timed in-process,
  then a second one (warm). DynamoDB is moto's server in this process, the management
  API a stub HTTP server here too, so the fresh process imports only what Lambda would;
- package: the size of the deployment zip `chalice package` makes (built in a
  temporary directory; infra/build/<stage>/deployment.zip is reported too if present).

    python -m bench.coldstart [--size full|tiny]
"""
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench import cli
from bench.harness import CREDENTIALS, REGION, ROOT, World, aws_session, bench_settings, target, ws_event

RUNS = {"full": 15, "tiny": 5}
FIRST_SEND_RUNS = {"full": 5, "tiny": 1}
IMPORT_RATIO_LIMIT = 1.3
BARE_APP = '''from chalice import Chalice

app = Chalice(app_name="bare")


@app.route("/")
def index():
    return {"hello": "world"}
'''
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)\s*$")

# The fresh process: nothing imported but what Lambda's runtime has (json, os, time). Its
# context is a stand-in of its own: localserver.events.lambda_context would load chalice.local
# into the process being measured.
FIRST_SEND = r'''
import json, os, sys, time
started = time.perf_counter()
import app
imported = time.perf_counter()
class Context:
    function_name = "bench"; memory_limit_in_mb = 512; aws_request_id = "bench"
    def get_remaining_time_in_millis(self): return 29000
events = json.loads(os.environ["BENCH_EVENTS"])
times = []
for event in events:
    begin = time.perf_counter()
    app.ws_message(event, Context())
    times.append(time.perf_counter() - begin)
print(json.dumps({"import_s": imported - started, "sends_s": times,
                  "modules": len(sys.modules)}))
'''


def _clean_env() -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "AWS_ENDPOINT_URL"))}
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    return env


def _function_environment(settings, dynamodb_endpoint: str) -> dict:
    """The first-send process's environment, as Lambda makes a function's: `settings` as the
    stack's variables (the app reads them back through runtime.current()), the region and
    credentials Lambda's runtime adds, and moto's server standing in for DynamoDB."""
    from chalicelib.config import TABLE_VARIABLES, Settings
    function = {variable: getattr(settings.tables, field) for field, variable in TABLE_VARIABLES.items()}
    function.update({"BCRYPT_ROUNDS": str(settings.bcrypt_rounds), "JWT_SECRET": settings.jwt_secret,
                     "WS_MANAGEMENT_URL": settings.ws_management_url, "AWS_REGION": REGION,
                     "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
                     **{name.upper(): value for name, value in CREDENTIALS.items()}})
    env = {**{key: value for key, value in _clean_env().items() if not key.startswith("AWS_")}, **function}
    if Settings.from_environment(env) != settings:
        raise RuntimeError("this shell's environment sets some of the app's variables: the first send "
                           "would not run with the benchmark's settings")
    return env


def _import_us(directory: Path, env: dict) -> int:
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=directory, env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    for line in result.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match and match.group(4) == "app" and not match.group(3):
            return int(match.group(2))
    raise RuntimeError("no top-level `app` import in:\n" + result.stderr[-2000:])


def _parse_imports(stderr: str) -> list[tuple[int, str, int]]:
    """(depth, module, cumulative µs) per line of -X importtime's report, in its order."""
    rows = []
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            rows.append((len(match.group(3)) // 2, match.group(4), int(match.group(2))))
    return rows


def _app_children(directory: Path, env: dict) -> list[dict]:
    """What `import app` itself imports (one level down), slowest first."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=directory, env=env,
                            capture_output=True, text=True, timeout=60, check=True)
    children = []
    for depth, module, cumulative in _parse_imports(result.stderr):
        if depth == 1:
            children.append({"module": module, "cumulative_ms": round(cumulative / 1000, 1)})
        elif depth == 0:
            if module == "app":
                return sorted(children, key=lambda row: -row["cumulative_ms"])
            children = []
    return []


def measure_imports(runs: int) -> dict:
    env = _clean_env()
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as bare:
        bare_dir = Path(bare)
        (bare_dir / "app.py").write_text(BARE_APP)
        _import_us(ROOT, env), _import_us(bare_dir, env)  # compile .pyc, warm the page cache
        app_us, bare_us = [], []
        for _ in range(runs):
            app_us.append(_import_us(ROOT, env))
            bare_us.append(_import_us(bare_dir, env))
        children = _app_children(ROOT, env)
    app_median, bare_median = statistics.median(app_us), statistics.median(bare_us)
    return {"app_import_ms": round(app_median / 1000, 1), "bare_chalice_import_ms": round(bare_median / 1000, 1),
            "ratio": round(app_median / bare_median, 3), "runs": runs,
            # Less sensitive to other work on the machine: each app run against the bare run
            # right after it, and the fastest of each.
            "ratio_paired_median": round(statistics.median(a / b for a, b in zip(app_us, bare_us)), 3),
            "ratio_fastest": round(min(app_us) / min(bare_us), 3),
            "app_runs_ms": [round(value / 1000, 1) for value in app_us],
            "bare_runs_ms": [round(value / 1000, 1) for value in bare_us],
            "app_imports": children}


class _ManagementStub(BaseHTTPRequestHandler):
    """Answers POST /@connections/<id> with 200, as API Gateway's management API does."""
    posts = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).posts += 1
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def measure_first_send(runs: int) -> dict:
    from chalicelib.runtime import Runtime
    from moto.server import ThreadedMotoServer
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto_server.start()
    stub = ThreadingHTTPServer(("127.0.0.1", 0), _ManagementStub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    try:
        host, port = moto_server.get_host_and_port()
        dynamodb_endpoint = f"http://{host}:{port}"
        settings = bench_settings(ws_management_url=f"http://127.0.0.1:{stub.server_address[1]}")
        world = World(Runtime(settings, session=aws_session(), dynamodb_endpoint=dynamodb_endpoint))
        users = world.users(2, prefix="cold")
        room_id = world.room(users[0])
        connections = world.connections(users, [room_id])
        env = _function_environment(settings, dynamodb_endpoint)
        results = []
        for run in range(runs):
            events = [ws_event("send", connections[0], {"action": "send", "room": room_id,
                                                        "text": f"cold {run}.{index}"}) for index in range(2)]
            output = subprocess.run([sys.executable, "-c", FIRST_SEND], cwd=ROOT,
                                    env={**env, "BENCH_EVENTS": json.dumps(events)},
                                    capture_output=True, text=True, timeout=120, check=True)
            results.append(json.loads(output.stdout.strip().splitlines()[-1]))
        events = [ws_event("send", connections[0], {"action": "send", "room": room_id, "text": "imports"})]
        traced = subprocess.run([sys.executable, "-X", "importtime", "-c", FIRST_SEND], cwd=ROOT,
                                env={**env, "BENCH_EVENTS": json.dumps(events)}, capture_output=True, text=True,
                                timeout=120, check=True)
        rows = _parse_imports(traced.stderr)
        after_app = rows[[module for _, module, _ in rows].index("app") + 1:]
        first_send_imports = sorted(({"module": module, "cumulative_ms": round(cumulative / 1000, 1)}
                                     for depth, module, cumulative in after_app if depth == 0),
                                    key=lambda row: -row["cumulative_ms"])[:8]
        expected_posts = (runs * 2 + 1) * len(connections)
        return {
            "import_app_ms": round(statistics.median(r["import_s"] for r in results) * 1000, 1),
            "first_send_ms": round(statistics.median(r["sends_s"][0] for r in results) * 1000, 1),
            "second_send_ms": round(statistics.median(r["sends_s"][1] for r in results) * 1000, 1),
            "modules_loaded_after_first_send": results[0]["modules"],
            "first_send_imports": first_send_imports,
            "runs": runs, "posts_seen": _ManagementStub.posts, "posts_expected": expected_posts,
            "note": "a fresh `python` process with DynamoDB = moto's server over loopback; Lambda's own "
                    "init (runtime start, code download) is not included",
        }
    finally:
        stub.shutdown()
        moto_server.stop()


def _zip_summary(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        sizes = {}
        for info in archive.infolist():
            top = info.filename.split("/", 1)[0]
            sizes[top] = sizes.get(top, 0) + info.file_size
    biggest = sorted(sizes.items(), key=lambda item: -item[1])[:6]
    return {"zip_bytes": path.stat().st_size, "zip_mb": round(path.stat().st_size / 2**20, 2),
            "unzipped_mb": round(sum(sizes.values()) / 2**20, 2),
            "largest_entries_mb": {name: round(size / 2**20, 2) for name, size in biggest}}


def measure_package(build: bool = True) -> dict:
    result = {}
    for built in sorted((ROOT / "infra" / "build").glob("*/deployment.zip")):
        result[f"infra/build/{built.parent.name}"] = _zip_summary(built)
    if not build:
        result["chalice_package"] = None
        result["chalice_package_error"] = "not built at size tiny"
        return result
    with tempfile.TemporaryDirectory(prefix="bench-package-") as temporary:
        project = Path(temporary) / "project"
        project.mkdir()
        for name in ("app.py", "requirements.txt"):
            shutil.copy(ROOT / name, project / name)
        shutil.copytree(ROOT / "chalicelib", project / "chalicelib",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (project / ".chalice").mkdir()
        shutil.copy(ROOT / ".chalice" / "config.json", project / ".chalice" / "config.json")
        chalice = Path(sys.executable).with_name("chalice")
        begin = time.perf_counter()
        try:
            subprocess.run([str(chalice), "package", "--stage", "dev", str(project / "out")], cwd=project,
                           env={**_clean_env(), "AWS_DEFAULT_REGION": "us-east-1"}, capture_output=True,
                           text=True, timeout=180, check=True)
        except (subprocess.SubprocessError, OSError) as error:
            result["chalice_package"] = None
            result["chalice_package_error"] = f"chalice package failed ({type(error).__name__}); it needs PyPI " \
                                              "to fetch Lambda wheels"
        else:
            result["chalice_package"] = {**_zip_summary(project / "out" / "deployment.zip"),
                                         "build_s": round(time.perf_counter() - begin, 1)}
    return result


def run(size: str = "full") -> dict:
    started = time.perf_counter()
    imports = measure_imports(RUNS[size])
    first = measure_first_send(FIRST_SEND_RUNS[size])
    package = measure_package(build=size == "full")
    targets = [target("app import / bare Chalice import", imports["ratio"], IMPORT_RATIO_LIMIT,
                      imports["ratio"] <= IMPORT_RATIO_LIMIT),
               target("first-send posts reached the stub", first["posts_seen"], first["posts_expected"],
                      first["posts_seen"] == first["posts_expected"])]
    return {"benchmark": "coldstart", "size": size, "import": imports, "first_send": first, "package": package,
            "targets": targets, "seconds": round(time.perf_counter() - started, 2)}


if __name__ == "__main__":
    cli.main(run)
