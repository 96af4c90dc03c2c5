"""A pod's life, measured on two builds of cma-orchestrator in the same command: a
baseline (e.g. the commit before a change) and a candidate, each against both emulators
as separate processes (`emulate anthropic`, `emulate superserve`), with a sleeping
shell script as the runner (no SDK needed).

    python3 Benchmarks/podlife.py compare BASELINE CANDIDATE shutdown 6 45000 30
        SIGTERM with 6 launches held by 45 s creates, SIGKILL 30 s later if still running:
        exit time, exit code, items stranded (acked, no runner, not stopped)
    python3 Benchmarks/podlife.py compare BASELINE CANDIDATE sigkill 100
        100 sessions with 20 % faults on both upstreams, SIGKILL at 1/3 and 2/3 claimed,
        restart: items stranded after each kill and 90 s after the restart
    python3 Benchmarks/podlife.py compare BASELINE CANDIDATE outage 20
        a 20 s Anthropic outage (every API call 503) in webhook mode: /readyz answers
    python3 Benchmarks/podlife.py compare BASELINE CANDIDATE faults 60 0.3
        60 sessions with 30 % faults on both upstreams (force-stops included), no kill:
        after 120 s (or once every item has a runner or is stopped), items stranded
    python3 Benchmarks/podlife.py compare BASELINE CANDIDATE firstdrain
        two items queued before the start: seconds until both have a runner

One JSON line per build. Build both with `swift build --product cma-orchestrator`.
"""
import base64, json, os, signal, socket, subprocess, sys, time, urllib.request, tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if len(sys.argv) > 4 and sys.argv[1] == "compare":
    for binary in sys.argv[2:4]:
        subprocess.run([sys.executable, os.path.abspath(__file__), os.path.abspath(binary), *sys.argv[4:]], check=False)
    sys.exit(0)
BIN, SCENARIO = sys.argv[1], sys.argv[2]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def call(method, url, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    if data is not None: req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r: return r.status, r.read().decode()
    except urllib.error.HTTPError as e: return e.code, e.read().decode()
def wait(url, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if call("GET", url)[0] == 200: return
        except Exception: pass
        time.sleep(0.2)
    raise SystemExit("not up: " + url)

tmp = tempfile.mkdtemp(prefix="cma-measure-")
sandboxes = os.path.join(tmp, "sandboxes"); os.makedirs(sandboxes)
runner = os.path.join(tmp, "runner.sh"); open(runner, "w").write("exec sleep 600\n")
key = "whsec_" + base64.b64encode(os.urandom(32)).decode()
ap, sp = free_port(), free_port()
A, S = f"http://127.0.0.1:{ap}", f"http://127.0.0.1:{sp}"
quiet = dict(os.environ, CMA_LOG_LEVEL="error")
# The scenarios are about a process's life, not the team's budget: an emulator that
# enforces Superserve's limits (20 req/s, 50 active sandboxes) has them lifted, so both
# builds meet the same unlimited service.
helptext = subprocess.run([BIN, "emulate", "superserve", "--help"], capture_output=True, text=True).stdout
lift = ["--unlimited"] if "--unlimited" in helptext else []
ss = subprocess.Popen([BIN, "emulate", "superserve", "--port", str(sp), "--api-key", "ss_m", "--sandboxes", sandboxes, *lift],
                      cwd=REPO, env=quiet, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
an = subprocess.Popen([BIN, "emulate", "anthropic", "--port", str(ap), "--environment-id", "env_m",
                       "--environment-key", "sk-ant-oat01-m", "--signing-key", key],
                      cwd=REPO, env=quiet, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wait(S + "/healthz"); wait(A + "/healthz")

def serve(extra=None):
    port = free_port()
    env = dict(os.environ, ANTHROPIC_BASE_URL=A, ANTHROPIC_ENVIRONMENT_ID="env_m", ANTHROPIC_ENVIRONMENT_KEY="sk-ant-oat01-m",
               ANTHROPIC_WEBHOOK_SIGNING_KEY=key, SUPERSERVE_API_KEY="ss_m", SUPERSERVE_BASE_URL=S, SUPERSERVE_SANDBOX_URL=S,
               CMA_RUNNER_PYTHON="sh", CMA_RUNNER_ENTRY=runner, CMA_LOG_LEVEL="error", **(extra or {}))
    p = subprocess.Popen([BIN, "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=REPO, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait(f"http://127.0.0.1:{port}/readyz")
    return p, f"http://127.0.0.1:{port}"
def items():
    return json.loads(call("GET", A + "/_emulator/work")[1])["data"]
def live_runners():
    out = set()
    for sid in os.listdir(sandboxes):
        d = os.path.join(sandboxes, sid, "fs/srv/cma")
        try:
            pid = int(open(os.path.join(d, ".runner.pid")).read().strip())
            if os.path.exists(os.path.join(d, ".runner.exit")): continue
            os.kill(pid, 0)
            out.add(open(os.path.join(d, ".runner.work")).read().strip())
        except Exception: pass
    return out
def stranded():
    served = live_runners()
    return [i["id"] for i in items() if i["state"] == "starting" and i["id"] not in served]
def session():
    return json.loads(call("POST", A + "/_emulator/sessions", {})[1])

try:
    if SCENARIO == "shutdown":
        n = int(sys.argv[3]); create_ms = int(sys.argv[4]); kill_at = float(sys.argv[5])
        call("POST", S + "/_emulator/superserve/faults", {"latency_ms": create_ms, "routes": "sandboxes.create"})
        p, base = serve({"CMA_DRAIN_INTERVAL_SECONDS": "1"})
        for _ in range(n): session()
        end = time.time() + 60
        while time.time() < end and sum(1 for i in items() if i["state"] != "queued") < n: time.sleep(0.2)
        t0 = time.time(); p.send_signal(signal.SIGTERM)
        while p.poll() is None and time.time() - t0 < kill_at: time.sleep(0.05)
        killed = p.poll() is None
        if killed: p.kill(); p.wait()
        elapsed = time.time() - t0
        # Stranded: acked, no runner, not stopped, once the creates could have finished.
        print(json.dumps({"binary": BIN, "creates_ms": create_ms, "launches": n, "exit_seconds": round(elapsed, 1),
                          "sigkilled_at": kill_at if killed else None, "exit_code": p.returncode,
                          "stranded": len(stranded()), "stopped": sum(1 for i in items() if i["state"] == "stopped")}))
    elif SCENARIO == "sigkill":
        n = int(sys.argv[3])
        call("POST", A + "/_emulator/faults", {"error_rate": 0.2, "statuses": [429, 500, 503], "retry_after_seconds": 0})
        call("POST", S + "/_emulator/superserve/faults", {"error_rate": 0.2, "statuses": [429, 500, 502, 503], "retry_after_seconds": 0})
        for _ in range(n): session()
        env = {"CMA_DRAIN_INTERVAL_SECONDS": "1", "CMA_SUPERSERVE_RATE": "200", "CMA_SUPERSERVE_BURST": "200",
               "CMA_LAUNCH_BUDGET_SECONDS": "12", "CMA_RECONCILE_MIN_AGE_SECONDS": "15", "CMA_RECONCILE_INTERVAL_SECONDS": "3"}
        result = {"binary": BIN, "sessions": n}
        for r, share in ((1, 3), (2, 3)):
            p, base = serve(env)
            while sum(1 for i in items() if i["state"] != "queued") < n * r // share: time.sleep(0.05)
            p.kill(); p.wait()
            result[f"stranded_after_sigkill_{r}"] = len(stranded())
        p, base = serve(env)
        t0 = time.time()
        while time.time() - t0 < 90:
            if all(i["state"] != "queued" for i in items()) and not stranded(): break
            time.sleep(1)
        result["stranded_after_restart_and_90s"] = len(stranded())
        result["queued_left"] = sum(1 for i in items() if i["state"] == "queued")
        p.send_signal(signal.SIGTERM); p.wait(timeout=200)
        print(json.dumps(result))
    elif SCENARIO == "faults":
        n, rate = int(sys.argv[3]), float(sys.argv[4])
        call("POST", A + "/_emulator/faults", {"error_rate": rate, "statuses": [429, 500, 503], "retry_after_seconds": 0})
        call("POST", S + "/_emulator/superserve/faults", {"error_rate": rate, "statuses": [429, 500, 502, 503], "retry_after_seconds": 0})
        for _ in range(n): session()
        p, base = serve({"CMA_DRAIN_INTERVAL_SECONDS": "1", "CMA_SUPERSERVE_RATE": "200", "CMA_SUPERSERVE_BURST": "200"})
        t0 = time.time()
        while time.time() - t0 < 120:
            if all(i["state"] != "queued" for i in items()) and not stranded(): break
            time.sleep(1)
        print(json.dumps({"binary": BIN, "sessions": n, "fault_rate": rate, "seconds": round(time.time() - t0, 1),
                          "stranded": len(stranded()), "stopped": sum(1 for i in items() if i["state"] == "stopped"),
                          "queued_left": sum(1 for i in items() if i["state"] == "queued")}))
        p.send_signal(signal.SIGTERM); p.wait(timeout=200)
    elif SCENARIO == "firstdrain":
        ids = [session()["work_id"] for _ in range(2)]
        t0 = time.time()
        p, base = serve()
        while time.time() - t0 < 60 and not all(i in live_runners() for i in ids): time.sleep(0.1)
        print(json.dumps({"binary": BIN, "seconds_from_start_to_runners": round(time.time() - t0, 1)}))
        p.send_signal(signal.SIGTERM); p.wait(timeout=60)
    elif SCENARIO == "outage":
        seconds = int(sys.argv[3])
        p, base = serve({"CMA_DRAIN_INTERVAL_SECONDS": "2"})
        call("POST", A + "/_emulator/faults", {"error_rate": 1.0, "statuses": [503]})
        t0 = time.time(); samples = []; last = 0
        while time.time() - t0 < seconds:
            try: samples.append(call("GET", base + "/readyz")[0])
            except Exception: samples.append(0)
            if time.time() - last >= 2:
                session()
                subprocess.run([BIN, "trigger", "--url", base + "/webhooks", "--signing-key", key],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                last = time.time()
            time.sleep(0.25)
        print(json.dumps({"binary": BIN, "outage_seconds": seconds, "readyz_200": samples.count(200), "samples": len(samples)}))
        p.send_signal(signal.SIGTERM); p.wait(timeout=60)
finally:
    for c in (an, ss):
        c.send_signal(signal.SIGTERM)
        try: c.wait(timeout=60)
        except Exception: c.kill()
