"""This service beside a bare Flask floor and HealthChain's CDS Hooks service, one run (issue 20).

Run: .venv/bin/python benchmarks/peers.py [--seconds N] [--concurrency 1 8 32] [--skip-healthchain]

Same machine, same client (wrk, with a Lua script that gives every call its own pre-signed
ES384 JWT, as benchmarks/service.py does), same patient-view bodies, one after the other:
- service: `icaht-cds serve` as shipped (gunicorn with cds_service/gunicorn_conf.py), JWT on,
  SQLite store and audit; and the same with authentication off;
- floor: a Flask app that only parses the body and answers {"cards": []}, under the same
  gunicorn settings (worker class and count) as the service; and under gthread 2 x 8;
- healthchain: HealthChain's documented CDSHooksService on HealthChainAPI (FastAPI, run with
  uvicorn and the service's worker count) returning one card, in its own venv
  (.state/bench-healthchain-venv, made here from requirements/bench-peers.txt). The only part
  that may be skipped: when the venv cannot be made (no package index), the reason is printed.

Bodies (built in-process from the synthetic generator, compact JSON, the prefetch as searchset
Bundles): the patient-view call of a patient 10 days after CAR-T infusion with 134 lab
Observations (94 kB), and the same patient grown to 3,000 (each result repeated 7 minutes
apart; 1.95 MB).

Printed per server, body and concurrency: p50/p95/p99/max (ms), requests/s, non-2xx answers,
p50 and req/s as ratios to the floor (same worker model; the floor stays up and is measured
right before each run of another server, so that both see the same load), the machine's busy
cores (/proc/stat: everything on it, wrk and other work included), the server processes' own CPU
(cores), the share of each worker process in that CPU, and at c >= 8 the client connections
each worker held mid-run (`ss`). Then the service's c=8 run again with 64 idle sockets and 16
that drip a request header (one byte every 0.5 s, reopened when the server cuts them) held open
throughout. --spread-trials N: how 8 connections opened at once fall on the workers, N times.

Experiments: --servers picks servers (the floor always runs); --service-workers and
--gunicorn-args (GUNICORN_CMD_ARGS for the service's and the gevent floor's gunicorn, e.g.
"--worker-connections=100") vary the model without editing cds_service/gunicorn_conf.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import _load

ROOT = Path(__file__).resolve().parent.parent
HC_VENV = ROOT / ".state" / "bench-healthchain-venv"
HC_REQUIREMENTS = ROOT / "requirements" / "bench-peers.txt"
ISSUER = "https://ehr.bench.invalid"
KID = "bench-key-1"
FHIR_URL = "https://fhir.bench.invalid/r4"
SERVICE_PATH = "/cds-services/icaht-patient-view"
HC_PATH = "/cds/cds-services/bench-one-card"
LAB_CATEGORY = "laboratory"
MATCH = {"mode": "match"}
BIG_OBSERVATIONS = 3000
IDLE_SOCKETS = 64
SLOW_SOCKETS = 16

# HealthChain's CDS Hooks service as its documentation shows it (HealthChainAPI +
# CDSHooksService, a hook handler returning CDSResponse), with one simple card
HC_APP = """
from healthchain.gateway import CDSHooksService, HealthChainAPI
from healthchain.models.requests.cdsrequest import CDSRequest
from healthchain.models.responses.cdsresponse import Card, CDSResponse

app = HealthChainAPI(title="bench")
cds = CDSHooksService()


@cds.hook("patient-view", id="bench-one-card", title="Bench", description="one card")
def one_card(request: CDSRequest) -> CDSResponse:
    card = Card(summary="Bench card", indicator="info", source={"label": "bench"})
    return CDSResponse(cards=[card])


app.register_service(cds)
"""


# ---------------------------------------------------------------- bodies


def _matches(resource: dict[str, Any], params: dict[str, str]) -> bool:
    """A minimal FHIR search: the code and status parameters of the prefetch templates."""
    if "code" in params:
        wanted = set(params["code"].split(","))
        codings = resource.get("code", {}).get("coding", [])
        if not any(f"{c.get('system')}|{c.get('code')}" in wanted for c in codings):
            return False
    return "status" not in params or resource.get("status") in params["status"].split(",")


def prefetch_for(resources: list[dict[str, Any]], patient_id: str) -> dict[str, Any]:
    """The discovery's prefetch, answered from the patient's resources as a FHIR server would
    (searchset Bundles; the Patient itself for the read)."""
    from cds_service.discovery import PREFETCH  # noqa: PLC0415

    prefetch: dict[str, Any] = {}
    for template in PREFETCH:
        query = template.query.replace("{{context.patientId}}", patient_id)
        path, _, raw = query.partition("?")
        rtype = path.split("/")[0]
        if "/" in path:
            prefetch[template.key] = next(r for r in resources if r["resourceType"] == rtype)
            continue
        params = dict(p.split("=", 1) for p in raw.split("&") if p)
        found = [r for r in resources if r["resourceType"] == rtype and _matches(r, params)]
        prefetch[template.key] = _load.searchset(found, FHIR_URL)
    return prefetch


def _labs(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        r
        for r in resources
        if r["resourceType"] == "Observation"
        and any(
            c.get("code") == LAB_CATEGORY for cat in r.get("category", []) for c in cat["coding"]
        )
    ]


def _shifted(obs: dict[str, Any], copy: int) -> dict[str, Any]:
    """A repeat of a lab result `copy` x 7 minutes earlier (another draw, the same value)."""
    when = datetime.fromisoformat(obs["effectiveDateTime"]) - timedelta(minutes=7 * copy)
    return obs | {"id": f"{obs['id']}-r{copy}", "effectiveDateTime": when.isoformat()}


def build_bodies() -> dict[str, str]:
    """{label: hook body}: a ~140-lab patient, and the same patient grown to 3,000 labs."""
    patient = _load.benchmark_patient()  # 134 lab Observations, a body of about 95 kB
    resources = patient.resources()
    labs = _labs(resources)
    grown = list(resources)
    copy = 0
    while len(_labs(grown)) < BIG_OBSERVATIONS:
        copy += 1
        grown += [_shifted(o, copy) for o in labs][: BIG_OBSERVATIONS - len(_labs(grown))]
    bodies = {}
    for rows in (resources, grown):
        prefetch = prefetch_for(rows, patient.patient_id)
        body = _load.patient_view_body(patient.patient_id, FHIR_URL, prefetch)
        text = json.dumps(body, separators=(",", ":"))
        bodies[f"{prefetch['labs']['total']} labs, {len(text) // 1000} kB"] = text
    return bodies


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    path: str
    process: subprocess.Popen[bytes]
    port: int
    audience: str | None = None  # signs JWTs for this aud; None: the server checks none
    key: Any = None
    logs: list[Path] = field(default_factory=list)
    workers: int = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def pids(self) -> list[int]:
        """The server's worker processes (the master's children), once all have started."""
        found: list[int] = []
        for _ in range(200):
            found = [p for p in _children(self.process.pid) if not _helper_process(p)]
            if len(found) >= self.workers:
                break
            time.sleep(0.1)
        return found or [self.process.pid]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(found)


def _helper_process(pid: int) -> bool:
    """multiprocessing's resource tracker (uvicorn's master starts one), not a worker."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    for _ in range(600):
        if process.poll() is not None:
            sys.exit(f"peers.py: a server exited at start; see {log}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(12).startswith(b"HTTP/1."):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    process.terminate()
    sys.exit(f"peers.py: a server did not start; see {log}")


def _icaht_cds() -> list[str]:
    """The `icaht-cds` command, run from this tree (`python -m icaht_cli`)."""
    return [sys.executable, "-m", "icaht_cli"]


def start_service(workdir: Path, workers: int, gunicorn_args: str, jwt_on: bool) -> Server:
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP384R1())
    state = Path(tempfile.mkdtemp(dir=workdir, prefix="service-"))
    _load.clients_file(state / "clients.json", key, issuer=ISSUER, kid=KID, fhir_servers=[FHIR_URL])
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    env = os.environ | {
        "ICAHT_CDS_PUBLIC_URL": public_url,
        "ICAHT_CDS_CLIENTS": str(state / "clients.json"),
        "ICAHT_CDS_DATABASE_URL": f"sqlite:///{state / 'store.sqlite3'}",
        "ICAHT_CDS_TIMEZONE": "Europe/Berlin",
        "ICAHT_CDS_ASSESSMENT_AUTH": "none",
        "ICAHT_CDS_AUTH": "jwt" if jwt_on else "none",
        "GUNICORN_CMD_ARGS": gunicorn_args,
        # this tree's code, also when the venv holds an installed copy
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [*_icaht_cds(), "serve", "--port", str(port)]
    command += ["--workers", str(workers), "--state-dir", str(state)]
    log = state / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    _wait_ready(process, port, log)
    name = "service, JWT on" if jwt_on else "service, JWT off"
    audience = public_url + SERVICE_PATH if jwt_on else None
    return Server(name, SERVICE_PATH, process, port, audience, key, [log], workers)


def start_floor(workdir: Path, workers: int, gunicorn_args: str, gthread: bool) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--config", "python:cds_service.gunicorn_conf"]
    command += ["--bind", f"127.0.0.1:{port}"]
    if gthread:
        command += ["--worker-class", "gthread", "--workers", "2", "--threads", "8"]
    else:
        command += ["--workers", str(workers)]
    command.append("benchmarks._floor:floor_app()")
    log = workdir / f"floor-{port}.log"
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "GUNICORN_CMD_ARGS": "" if gthread else gunicorn_args,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    _wait_ready(process, port, log)
    name = "floor, gthread 2x8" if gthread else "floor"
    count = 2 if gthread else workers
    return Server(name, SERVICE_PATH, process, port, logs=[log], workers=count)


def healthchain_python() -> tuple[Path | None, str]:
    """The benchmark venv's python, made from requirements/bench-peers.txt if missing; or None
    and the reason."""
    python = HC_VENV / "bin" / "python"
    if python.exists():
        probe = [str(python), "-c", "import healthchain, uvicorn"]
        check = subprocess.run(probe, check=False, capture_output=True)
        if check.returncode == 0:
            return python, ""
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", HC_VENV], check=True)
        subprocess.run(
            [python, "-m", "pip", "install", "-q", "-r", HC_REQUIREMENTS],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or "").strip().splitlines()[-1:] or [str(error)]
        return None, f"could not install {HC_REQUIREMENTS.name} into {HC_VENV}: {detail[0]}"
    except subprocess.TimeoutExpired:
        return None, f"installing {HC_REQUIREMENTS.name} took over 15 minutes"
    return python, ""


def start_healthchain(workdir: Path, python: Path, workers: int) -> Server:
    app_dir = workdir / "healthchain"
    app_dir.mkdir(exist_ok=True)
    (app_dir / "hc_bench_app.py").write_text(HC_APP)
    port = free_port()
    command = [str(python), "-m", "uvicorn", "hc_bench_app:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    log = workdir / "healthchain.log"
    with log.open("wb") as out:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        process = subprocess.Popen(
            command, cwd=app_dir, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    _wait_ready(process, port, log)
    return Server("healthchain", HC_PATH, process, port, logs=[log], workers=workers)


# ---------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Result(_load.WrkFigures):
    """One wrk run, with the machine's and the server's CPU while it ran."""

    busy_cores: float = 0.0
    server_cores: float = 0.0
    worker_share: list[float] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _process_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    try:
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (float(parts[11]) + float(parts[12])) / os.sysconf("SC_CLK_TCK")


def _connections_by_pid(port: int, pids: list[int]) -> list[int]:
    """The established client connections each worker holds now (`ss -p`)."""
    done = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
        check=False,
        capture_output=True,
        text=True,
    )
    counts = Counter(int(m) for m in re.findall(r"pid=(\d+)", done.stdout))
    return [counts.get(pid, 0) for pid in pids]


def sign_tokens(server: Server, count: int) -> list[str]:
    if server.audience is None:
        return ["-"]
    return _load.signed_tokens(
        server.key, issuer=ISSUER, kid=KID, audience=server.audience, count=count
    )


def run_wrk(workdir: Path, server: Server, body: str, connections: int, seconds: int) -> Result:
    tokens = sign_tokens(server, count=seconds * 900 + 300)
    pids = server.pids()
    before = [_process_cpu(p) for p in pids]
    busy0, total0 = _cpu_times()
    wall0 = time.monotonic()
    held: list[int] = []

    def sample() -> None:
        time.sleep(seconds / 2)
        held.extend(_connections_by_pid(server.port, pids))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    figures = _load.run_wrk(
        workdir, server.url, body, tokens, connections=connections, seconds=seconds
    )
    wall = time.monotonic() - wall0
    busy1, total1 = _cpu_times()
    used = [_process_cpu(p) - b for p, b in zip(pids, before, strict=True)]
    sampler.join()
    spent = sum(used) or 1.0
    return Result(
        **asdict(figures),
        busy_cores=(busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1),
        server_cores=sum(used) / wall,
        worker_share=[u / spent for u in used] if len(pids) > 1 else [],
        connections=held if connections > 1 and len(pids) > 1 else [],
    )


class IdleClients:
    """Idle sockets (connected, silent) and slow ones (a request header, a byte every 0.5 s),
    each reopened when the server closes it: they are held open for as long as this runs."""

    def __init__(self, port: int, idle: int, slow: int) -> None:
        self.port = port
        self.counts = (idle, slow)
        self.stop = threading.Event()
        self.reopened = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.header = f"POST {SERVICE_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".encode()

    def _open(self) -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", self.port), timeout=2)
        except OSError:
            return None

    def _run(self) -> None:
        idle = [self._open() for _ in range(self.counts[0])]
        slow = [self._open() for _ in range(self.counts[1])]
        sent = [0] * len(slow)
        while not self.stop.wait(0.5):
            for group in (idle, slow):
                for i, sock in enumerate(group):
                    if sock is None or _closed(sock):
                        if sock is not None:
                            sock.close()
                            self.reopened += 1
                        group[i] = self._open()
                        if group is slow:
                            sent[i] = 0
            for i, sock in enumerate(slow):
                if sock is None:
                    continue
                data = self.header + b"x" * 10_000
                try:
                    sock.send(data[sent[i] : sent[i] + 1])
                    sent[i] += 1
                except OSError:
                    pass
        for sock in idle + slow:
            if sock is not None:
                sock.close()

    @contextmanager
    def held(self) -> Iterator[IdleClients]:
        self.thread.start()
        time.sleep(1.5)  # all open before the measured run
        try:
            yield self
        finally:
            self.stop.set()
            self.thread.join()


def _closed(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(4096, socket.MSG_PEEK) == b""
    except OSError:
        return True


def spread_probe(server: Server, body: str, connections: int, trials: int) -> Counter[str]:
    """How `connections` keep-alive connections opened at once (as wrk and a proxy's pool do)
    fall on the workers: per trial, the connections each worker holds after one call on each,
    sorted; counted over the trials."""
    request = (
        f"POST {server.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body.encode())}\r\n"
    ).encode()
    patterns: Counter[str] = Counter()
    pids = server.pids()
    for _ in range(trials):
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(connections)]
        tokens = sign_tokens(server, connections)
        for sock, token in zip(socks, tokens * connections, strict=False):
            auth = f"Authorization: Bearer {token}\r\n".encode() if server.audience else b""
            sock.sendall(request + auth + b"\r\n" + body.encode())
        for sock in socks:
            sock.settimeout(30)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
        held = sorted(_connections_by_pid(server.port, pids), reverse=True)
        patterns["/".join(str(n) for n in held)] += 1
        for sock in socks:
            sock.close()
        time.sleep(0.2)
    return patterns


# ---------------------------------------------------------------- report


HEADER = (
    f"{'server':20s} {'body':20s} {'c':>3s} {'p50':>7s} {'p95':>7s} {'p99':>7s} {'max':>7s}"
    f" {'req/s':>7s} {'non2xx':>6s} {'p50/fl':>6s} {'rps/fl':>6s} {'busy':>5s} {'srv':>5s}"
    "  worker CPU % | connections"
)


def row(name: str, body: str, c: int, r: Result, floor: Result | None) -> str:
    ratio_p50 = f"{r.p50 / floor.p50:6.1f}" if floor and floor.p50 else f"{'':6s}"
    ratio_rps = f"{r.rps / floor.rps:6.2f}" if floor and floor.rps else f"{'':6s}"
    shares = "/".join(f"{s * 100:.0f}" for s in r.worker_share)
    held = "/".join(str(n) for n in r.connections)
    errors = f" ({r.errors} socket errors)" if r.errors else ""
    return (
        f"{name:20s} {body:20s} {c:3d} {r.p50:7.1f} {r.p95:7.1f} {r.p99:7.1f} {r.max:7.1f}"
        f" {r.rps:7.1f} {r.non2xx:6d} {ratio_p50} {ratio_rps} {r.busy_cores:5.2f}"
        f" {r.server_cores:5.2f}  {shares}{' | ' + held if held else ''}{errors}"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--skip-healthchain", action="store_true")
    parser.add_argument(
        "--servers",
        nargs="+",
        default=["floor", "service", "service-nojwt", "floor-gthread", "healthchain"],
        choices=["floor", "service", "service-nojwt", "floor-gthread", "healthchain"],
    )
    parser.add_argument("--bodies", nargs="+", default=["small", "big"], choices=["small", "big"])
    parser.add_argument(
        "--service-workers", type=int, default=int(os.environ.get("ICAHT_CDS_WORKERS", "0"))
    )
    parser.add_argument("--gunicorn-args", default="", help="GUNICORN_CMD_ARGS for experiments")
    parser.add_argument("--no-idle", action="store_true", help="skip the idle-connection run")
    parser.add_argument(
        "--spread-trials", type=int, default=0, help="also probe how 8 connections spread"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("benchmarks/peers.py needs wrk: apt-get install wrk")
    if shutil.which("ss") is None:
        sys.exit("benchmarks/peers.py needs ss: apt-get install iproute2")
    sys.path.insert(0, str(ROOT))
    from cds_service import gunicorn_conf  # noqa: PLC0415

    workers = args.service_workers or gunicorn_conf.workers
    servers = [s for s in args.servers if not (args.skip_healthchain and s == "healthchain")]
    hc_python = None
    if "healthchain" in servers:
        hc_python, reason = healthchain_python()
        if hc_python is None:
            print(f"HealthChain skipped: {reason}")
            servers.remove("healthchain")
    if args.skip_healthchain:
        print("HealthChain skipped: --skip-healthchain")
    small, big = build_bodies().items()
    bodies = dict(x for x, wanted in ((small, "small"), (big, "big")) if wanted in args.bodies)
    print(
        f"{os.cpu_count()} cores; {workers} worker processes ({gunicorn_conf.worker_class},"
        f" worker_connections {gunicorn_conf.worker_connections}, keepalive"
        f" {gunicorn_conf.keepalive} s{', ' + args.gunicorn_args if args.gunicorn_args else ''});"
        f" {args.seconds} s per run; ms; busy = machine cores busy (all processes), srv = the"
        " server's own cores"
    )
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        run(Path(tmp), args, servers=servers, bodies=bodies, workers=workers, hc_python=hc_python)


def run(
    workdir: Path,
    args: argparse.Namespace,
    *,
    servers: list[str],
    bodies: dict[str, str],
    workers: int,
    hc_python: Path | None,
) -> None:
    """The floor runs throughout, idle between its runs. Each run of another server comes right
    after a run of the floor on the same body at the same concurrency: the load of a shared
    machine changes by the minute, and a ratio is only fair between runs taken together."""
    first = next(iter(bodies))
    floor = _start("floor", workdir, workers, args.gunicorn_args, hc_python)
    try:
        if args.spread_trials:
            print_spread(floor, bodies[first], args.spread_trials)
        for name in (s for s in servers if s != "floor"):
            for label, body in bodies.items():
                if name in ("healthchain", "floor-gthread") and label != first:
                    continue  # the large patient is this service's figure
                server = _start(name, workdir, workers, args.gunicorn_args, hc_python)
                try:
                    if args.spread_trials and label == first:
                        print_spread(server, body, args.spread_trials)
                    for c in args.concurrency:
                        reference = run_wrk(workdir, floor, body, c, args.seconds)
                        print(row(floor.name, label, c, reference, None), flush=True)
                        result = run_wrk(workdir, server, body, c, args.seconds)
                        print(row(server.name, label, c, result, reference), flush=True)
                    if name == "service" and label == first and not args.no_idle:
                        idle_run(workdir, server, body, args.seconds, floor)
                finally:
                    server.stop()
    finally:
        floor.stop()


def print_spread(server: Server, body: str, trials: int) -> None:
    spread = spread_probe(server, body, 8, trials)
    shown = ", ".join(f"{k} x{n}" for k, n in spread.most_common())
    print(f"{server.name:20s} 8 connections per worker (sorted): {shown}", flush=True)


def _start(
    name: str, workdir: Path, workers: int, gunicorn_args: str, hc_python: Path | None
) -> Server:
    if name == "floor":
        return start_floor(workdir, workers, gunicorn_args, gthread=False)
    if name == "floor-gthread":
        return start_floor(workdir, workers, gunicorn_args, gthread=True)
    if name == "healthchain":
        assert hc_python is not None
        return start_healthchain(workdir, hc_python, workers)
    return start_service(workdir, workers, gunicorn_args, jwt_on=name == "service")


def idle_run(workdir: Path, server: Server, body: str, seconds: int, floor: Server) -> None:
    """c=8 alone, then c=8 while idle and slow sockets are held open (the floor's run first)."""
    label = f"+{IDLE_SOCKETS} idle +{SLOW_SOCKETS} slow"
    reference = run_wrk(workdir, floor, body, 8, seconds)
    print(row(floor.name, "c=8 (for the next)", 8, reference, None), flush=True)
    before = run_wrk(workdir, server, body, 8, seconds)
    print(row(server.name, "c=8 alone", 8, before, reference), flush=True)
    with IdleClients(server.port, IDLE_SOCKETS, SLOW_SOCKETS).held() as clients:
        during = run_wrk(workdir, server, body, 8, seconds)
    print(row(server.name, label, 8, during, reference), flush=True)
    print(
        f"{'':20s} idle/slow sockets cut and reopened by the client during the run:"
        f" {clients.reopened} (connections counted above include them); p95 {before.p95:.1f}"
        f" -> {during.p95:.1f} ms, max {before.max:.1f} -> {during.max:.1f} ms,"
        f" {before.rps:.0f} -> {during.rps:.0f} req/s",
        flush=True,
    )


if __name__ == "__main__":
    main()
