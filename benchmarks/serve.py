"""`make serve` against Azure ML's inference server run bare, on the same score.py and model.

The endpoint case (tests/cases/native/endpoint_online, one deployment: blue) is served by
`python -m amlops serve` (venv runtime: gateway + azmlinfsrv) and by `azmlinfsrv` alone
from the same venv (the floor). Each gets the same sequential requests from one client
(max_concurrent_requests_per_instance is 1: Azure would answer 429 to a second one in
flight), each request on a new connection on both sides (Azure's server, gunicorn's
sync worker, closes every connection, so the bare side cannot keep one). Method (issue
23.6): both servers run at once, each started in a session of its own; the requests go
in rounds alternating between the sides (the order rotates), and the overhead is the
median over rounds of each round's p50 ratio; the CPU seconds per request of each
side's server processes (gateway + server, or the server alone; user + system from
/proc) are printed beside. Printed: requests/s, p50 and p99 latency of both, the
overhead at p50 (the issue's target: at most 10%), and the time from start to the first
answered request with a warm venv, of both.

BENCH_QUICK=1: 2 rounds of 50 requests a side instead of 5 (BENCH_ROUNDS) of 200, and a
readiness probe of 1 s (initial_delay and period) instead of the default 10 s."""

import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import QUICK, REPO, bake_default, machine_note, scratch  # noqa: E402

CASE = REPO / "tests" / "cases" / "native" / "endpoint_online"
BODY = json.dumps({"data": [[1, 2, 3], [0, 0, 0]]}).encode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(port: int, key: str = "") -> Tuple[int, float]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    try:
        conn.request("POST", "/score", body=BODY, headers=headers)
        answer = conn.getresponse()
        answer.read()
        return answer.status, time.perf_counter() - started
    except OSError:
        return 0, time.perf_counter() - started
    finally:
        conn.close()


def first_answer(port: int, key: str, started: float, proc: subprocess.Popen) -> float:
    while True:
        if proc.poll() is not None:
            sys.exit(f"server exited ({proc.returncode})")
        if post(port, key)[0] == 200:
            return time.perf_counter() - started
        time.sleep(0.05)


def load(port: int, key: str, count: int) -> Tuple[float, List[float]]:
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        status, took = post(port, key)
        if status != 200:
            sys.exit(f"request answered {status}")
        latencies.append(took)
    return count / (time.perf_counter() - started), latencies


def tree_cpu(pid: int) -> float:
    """User + system CPU seconds used so far by process `pid` and its descendants."""
    parents: Dict[int, int] = {}
    used: Dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += used.get(current, 0.0)
        todo += [child for child, parent in parents.items() if parent == current]
    return total


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    rounds = 2 if QUICK else int(os.environ.get("BENCH_ROUNDS", "5"))
    count = 50 if QUICK else 200  # requests a side per round
    project = bake_default(scratch())
    shutil.copytree(CASE, project / "endpoints" / "case", ignore=shutil.ignore_patterns("*.md"))
    if QUICK:  # ready in ~1 s instead of the default probe's 10 s (each start waits for it)
        with open(project / "endpoints" / "case" / "blue-deployment.yml", "a") as handle:
            handle.write("readiness_probe:\n  initial_delay: 1\n  period: 1\n")
    env = {**os.environ, "RUNTIME": "venv", "DEPLOYMENT": "blue", "ENDPOINT": "case"}
    env["VENV_DIR"] = os.environ.get("VENV_DIR", "/tmp/amlops-test-cache/serve-venvs")

    state = project / ".runs" / "endpoints" / "case" / "serving.json"

    def start_serve(port: int, poll_s: float) -> subprocess.Popen:
        """`python -m amlops serve` on `port`, returned once its state file exists."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "amlops", "serve"],
            cwd=project,
            env={**env, "PORT": str(port)},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        while not state.is_file():
            if proc.poll() is not None:
                sys.exit("make serve failed to start")
            time.sleep(poll_s)
        return proc

    # Warm the venv (not timed), and learn its path from serve's run folder.
    warm = start_serve(free_port(), 0.2)
    run_dir = Path(json.loads(state.read_text())["run_dir"])
    stop(warm)
    venv_bin = None
    for line in (run_dir / "gateway.log").read_text().splitlines():
        if "blue: venv " in line:
            venv_bin = project / line.split("blue: venv ", 1)[1].split(" on port")[0] / "bin"
    if venv_bin is None or not venv_bin.is_dir():
        venv_bin = Path(env["VENV_DIR"])  # VENV_DIR is absolute: find the venv by its server
        venv_bin = next(p.parent for p in venv_bin.glob("*/bin/azmlinfsrv"))

    # make serve (gateway + server)
    port = free_port()
    started = time.perf_counter()
    served = start_serve(port, 0.05)
    key = Path(json.loads(state.read_text())["key_file"]).read_text().strip()
    serve_first = first_answer(port, key, started, served)
    serve_port = port

    # bare azmlinfsrv, same venv, script and model
    port = free_port()
    models = Path(scratch()) / "blue-model" / "1"
    models.mkdir(parents=True)
    (models / "model").symlink_to(CASE / "model", target_is_directory=True)
    bare_env = {
        **os.environ,
        "AZUREML_MODEL_DIR": str(models),
        "AML_APP_ROOT": str(CASE / "scoring"),
        "AZUREML_ENTRY_SCRIPT": "score.py",
        "COLOUR": "blue",
    }
    started = time.perf_counter()
    bare = subprocess.Popen(
        [
            str(venv_bin / "azmlinfsrv"),
            "--entry_script",
            str(CASE / "scoring" / "score.py"),
            "--port",
            str(port),
        ],
        env=bare_env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bare_first = first_answer(port, "", started, bare)
        sides = {"bare": (port, "", bare), "serve": (serve_port, key, served)}
        latencies: Dict[str, List[float]] = {name: [] for name in sides}
        p50s: Dict[str, List[float]] = {name: [] for name in sides}
        cpu: Dict[str, float] = {name: 0.0 for name in sides}
        wall: Dict[str, float] = {name: 0.0 for name in sides}
        for name, (side_port, side_key, _) in sides.items():
            load(side_port, side_key, 10)  # first requests (imports, caches) not timed
        for number in range(rounds):
            order = list(sides)[number % 2 :] + list(sides)[: number % 2]
            for name in order:
                side_port, side_key, proc = sides[name]
                before, started = tree_cpu(proc.pid), time.perf_counter()
                _, took = load(side_port, side_key, count)
                wall[name] += time.perf_counter() - started
                cpu[name] += tree_cpu(proc.pid) - before
                latencies[name] += took
                p50s[name].append(statistics.median(took))
    finally:
        stop(served)
        stop(bare)
    total = rounds * count
    bare_rps, bare_lat = total / wall["bare"], latencies["bare"]
    serve_rps, serve_lat = total / wall["serve"], latencies["serve"]

    def ms(values: List[float], q: float) -> float:
        return percentile(values, q) * 1000

    print(
        f"serve benchmark: {rounds} interleaved rounds of {count} sequential requests a side"
        f" (BENCH_QUICK={int(QUICK)})"
    )
    print(f"  {machine_note()}")
    print(
        f"  bare azmlinfsrv: {bare_rps:7.1f} req/s  p50 {ms(bare_lat, .5):6.2f} ms"
        f"  p99 {ms(bare_lat, .99):6.2f} ms  first answer {bare_first:5.2f} s after start"
        f"  server CPU {cpu['bare'] / total * 1000:5.2f} ms/request"
    )
    print(
        f"  make serve:      {serve_rps:7.1f} req/s  p50 {ms(serve_lat, .5):6.2f} ms"
        f"  p99 {ms(serve_lat, .99):6.2f} ms  first answer {serve_first:5.2f} s after start"
        f"  server CPU {cpu['serve'] / total * 1000:5.2f} ms/request (gateway + server)"
    )
    ratios = [s / b for s, b in zip(p50s["serve"], p50s["bare"])]
    overhead = statistics.median(ratios) - 1
    print(
        f"  overhead at p50: {overhead * 100:+.1f}% (target: at most +10%; median of the"
        f" rounds' ratios {' '.join(f'{r:.2f}' for r in ratios)}); CPU per request"
        f" x{cpu['serve'] / cpu['bare']:.2f} the bare server's"
    )
    print(
        f"  start to first answer: {serve_first / bare_first:.2f}x the bare server's"
        " (make serve waits for the readiness probe: initial_delay 10 s by default)"
    )


if __name__ == "__main__":
    main()
