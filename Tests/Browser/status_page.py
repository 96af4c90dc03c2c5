"""Drives headless Chromium over the DevTools protocol against a running
`cma-orchestrator serve --emulated` and checks its status page. Started by
Tests/DeployTests/StatusPageBrowserTests.swift; exits 0 when every check passes,
1 with one line per failed check otherwise.

argv: chromium-path orchestrator-base-url failed-session-id screenshot-path scratch-dir
      warm-pool|no-warm-pool (whether the server was started with CMA_WARM_POOL)

The page is loaded through a small reverse proxy that mounts the orchestrator under
/cma/ (as a proxy in front of it may), so every request the page makes must be
relative to work at all; the test also checks each requested URL.
"""
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import websocket  # websocket-client, pinned by the Swift test's venv

CHROMIUM, BASE, FAILED_SESSION, SCREENSHOT, SCRATCH, WARM_POOL = sys.argv[1:7]
DEADLINE_SECONDS = 30
problems = []


def check(ok, message):
    if not ok:
        problems.append(message)
    return ok


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def eventually(what, condition, timeout=DEADLINE_SECONDS):
    """Polls `condition` (returns a truthy value when met) until the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.1)
    raise SystemExit("timed out waiting for " + what + (": " + repr(last) if last is not None else ""))


# --- a /cma/ prefix proxy: GET and HEAD only, which is all the page uses ----------
class Prefix(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):
        Prefix.seen.append(self.path)
        if not self.path.startswith("/cma/"):
            self.send_error(404, "outside /cma/")
            return
        try:
            with urllib.request.urlopen(BASE + self.path[len("/cma"):], timeout=10) as upstream:
                body, status, headers = upstream.read(), upstream.status, upstream.headers
        except urllib.error.HTTPError as error:
            body, status, headers = error.read(), error.code, error.headers
        self.send_response(status)
        for name in ("Content-Type", "Cache-Control"):
            if headers.get(name):
                self.send_header(name, headers[name])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Prefix)
threading.Thread(target=proxy.serve_forever, daemon=True).start()
PROXY = "http://127.0.0.1:%d" % proxy.server_address[1]

# --- Chromium, its DevTools port read from the profile (port 0 = a free one) -------
profile = os.path.join(SCRATCH, "profile")
chromium = subprocess.Popen(
    [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
     "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage",
     "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
     "--user-data-dir=" + profile, "about:blank"],
    stdout=subprocess.DEVNULL, stderr=open(os.path.join(SCRATCH, "chromium.log"), "wb"))
try:
    port_file = os.path.join(profile, "DevToolsActivePort")
    eventually("chromium's DevToolsActivePort", lambda: os.path.exists(port_file)
               and open(port_file).read().split("\n")[0].strip().isdigit())
    devtools = "http://127.0.0.1:" + open(port_file).read().split("\n")[0].strip()
    page = eventually("a page target", lambda: next(
        (t for t in get_json(devtools + "/json/list") if t.get("type") == "page"), None))
    ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=DEADLINE_SECONDS,
                                     suppress_origin=True)

    next_id = [0]
    events = []

    def send(method, **params):
        next_id[0] += 1
        ws.send(json.dumps({"id": next_id[0], "method": method, "params": params}))
        while True:
            message = json.loads(ws.recv())
            if message.get("id") == next_id[0]:
                if "error" in message:
                    raise SystemExit(method + " failed: " + json.dumps(message["error"]))
                return message.get("result", {})
            events.append(message)

    def evaluate(expression):
        result = send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise SystemExit("evaluate failed: " + json.dumps(result["exceptionDetails"])[:500])
        return result["result"].get("value")

    def key(name, code, keycode, text=None):
        for kind in ("keyDown", "keyUp"):
            params = {"type": kind, "key": name, "code": code, "windowsVirtualKeyCode": keycode}
            if text and kind == "keyDown":
                params["text"] = text
            send("Input.dispatchKeyEvent", **params)

    for domain in ("Runtime", "Log", "Network", "Page"):
        send(domain + ".enable")
    send("Emulation.setDeviceMetricsOverride", width=320, height=900, deviceScaleFactor=1, mobile=True)
    send("Page.navigate", url=PROXY + "/cma/")

    # 1. The page shows the failed session (it refreshes itself; poll, never sleep).
    eventually("the failed session on the page", lambda: evaluate(
        "!!document.querySelector('#sessions tr[data-session=%s][data-state=failed]')" % json.dumps(FAILED_SESSION)))

    # 2. Its numbers equal /status read directly from the orchestrator. Nothing else
    #    happens in the emulator now, so both settle; poll until one refresh agrees.
    page_numbers = """(() => {
        const t = (id) => document.getElementById(id).textContent;
        return {
          launched: t('launched'), failed: t('failed'), in_flight: t('in-flight'),
          queued: t('wh-queued'), ignored: t('wh-ignored'), duplicate: t('wh-duplicate'), rejected: t('wh-rejected'),
          sandboxes: Object.fromEntries(['launching','running','paused','failed','stopped']
            .map((s) => [s, t('sandboxes-' + s)])),
          counts: Object.fromEntries([...document.querySelectorAll('[data-count]')]
            .map((e) => [e.dataset.count, e.textContent])),
          rows: [...document.querySelectorAll('#sessions tr')].map((r) => [r.dataset.session, r.dataset.state]),
          launches_plot: document.querySelector('#plot-launches svg').getAttribute('data-total'),
          webhooks_plot: document.querySelector('#plot-webhooks svg').getAttribute('data-total'),
        };
    })()"""

    def expected():
        s = get_json(BASE + "/status")
        check(s.get("schema_version") == 1, "/status has no schema_version 1")
        board = s["sessions"]
        minutes = s["series"]["minutes"]
        return {
            "launched": str(s["launches"]["launched"]), "failed": str(s["launches"]["failed"]),
            "in_flight": str(s["launches"]["in_flight"]),
            "queued": str(s["webhooks"]["queued"]), "ignored": str(s["webhooks"]["ignored"]),
            "duplicate": str(s["webhooks"]["duplicate"]), "rejected": str(s["webhooks"]["rejected"]),
            "sandboxes": {k: str(v) for k, v in s["sandboxes"]["by_state"].items()},
            "counts": dict({k: str(v) for k, v in board["by_state"].items()}, all=str(len(board["rows"]))),
            "rows": [[r["session_id"], r["state"]] for r in board["rows"]],
            "launches_plot": str(sum(sum(m["launches"].values()) for m in minutes)),
            "webhooks_plot": str(sum(sum(m["webhooks"].values()) for m in minutes)),
        }

    def page_agrees(what, want_from_status, page_script):
        """Waits until what the page shows (`page_script`) equals what /status says;
        returns the /status side."""
        state = {}

        def agree():
            state["want"], state["got"] = want_from_status(), evaluate(page_script)
            return state["want"] == state["got"]

        try:
            eventually("the page's %s to equal /status" % what, agree)
        except SystemExit:
            check(False, "page %s %s differ from /status %s"
                  % (what, json.dumps(state.get("got")), json.dumps(state.get("want"))))
        return state["want"]

    check(page_agrees("numbers", expected, page_numbers)["failed"] != "0", "no failed launch counted in /status")

    # 2b. The environments table, upstreams, Superserve budget, reconciler and warm pool
    #     draw what /status says; a section whose field /status lacks is hidden.
    page_sections = """(() => {
        const t = (id) => document.getElementById(id).textContent;
        const shown = (id) => document.getElementById(id).getClientRects().length > 0;
        const at = (id) => { const e = document.querySelector('#' + id + ' time'); return e && e.dateTime; };
        const td = (r, c) => r.querySelector('td.' + c).textContent;
        return {
          environments: shown('environments-section') && [...document.querySelectorAll('#environments tr')].map((r) =>
            [r.dataset.environment, r.dataset.state, td(r, 'id'), td(r, 'state'), td(r, 'problem'), td(r, 'template'),
             td(r, 'launched'), td(r, 'failed'), td(r, 'in-flight')]),
          upstreams: shown('upstreams-section') && [...document.querySelectorAll('#upstreams tr')].map((r) =>
            [r.dataset.upstream, r.dataset.state, td(r, 'state'), td(r, 'last-failure')]),
          superserve: shown('superserve-section') && [t('ss-rate'), t('ss-limit'), t('ss-waiters'), t('ss-limited'),
            t('quota-waiting'), t('quota-paused')],
          reconciler: shown('reconciler-section') && [at('rec-last'), t('rec-listed'), t('rec-found'),
            t('rec-stopped'), t('rec-error')],
          warm_pool: shown('warm-pool-section') && [t('pool-ready'), t('pool-won'), t('pool-lost'), t('pool-empty'),
            t('pool-created'), t('pool-refill-failures'), t('pool-recycled')],
        };
    })()"""

    def shown(value):
        return "–" if value is None or value == "" else str(value)

    def expected_sections():
        s = get_json(BASE + "/status")
        ss, rec, pool = s["superserve"], s["reconciler"], s["warm_pool"]
        rate = lambda v: "{:g}/s".format(v)  # as String(v) in JS for these rounded rates
        return {
            "environments": [[e["id"], e["state"], e["id"], e["state"], shown(e["problem"]),
                              e["template"]["name"] + ": " + e["template"]["status"],
                              str(e["launches"]["launched"]), str(e["launches"]["failed"]),
                              str(e["launches"]["in_flight"])] for e in s["environments"]],
            "upstreams": [[name, u["state"], u["state"], shown(u["last_failure"])] for name, u in s["upstreams"].items()],
            "superserve": [rate(ss["rate_per_second"]),
                           "not reported yet" if ss["reported_limit_per_second"] is None
                           else rate(ss["reported_limit_per_second"]),
                           str(ss["bucket_waiters"]),
                           "{} ({} halved the rate)".format(ss["rate_limited"], ss["rate_halvings"]),
                           str(ss["quota"]["waiting"]), str(ss["quota"]["paused_for_room"])],
            "reconciler": [rec["last_pass_at"], str(rec["last_listed"]), str(rec["last_candidates"]),
                           str(rec["orphans_stopped"]), rec["last_error"] or "none"],
            "warm_pool": pool is not None and ["%d / %d" % (pool["ready"], pool["size"])]
            + [str(pool["claims"][k]) for k in ("won", "lost", "empty")]
            + [str(pool[k]) for k in ("created", "refill_failures", "recycled")],
        }

    want = page_agrees("sections", expected_sections, page_sections)
    check(len(want["environments"]) >= 1, "/status lists no environment")
    check(set(name for name, *_ in want["upstreams"]) == {"anthropic", "superserve"},
          "/status upstreams: %r" % want["upstreams"])
    if WARM_POOL == "warm-pool":
        check(want["warm_pool"] and want["warm_pool"][0] != "0 / 0", "/status has no warm pool: %r" % want["warm_pool"])
    else:
        check(want["warm_pool"] is False, "/status has a warm pool without CMA_WARM_POOL: %r" % want["warm_pool"])
    drawn = evaluate("document.body.innerText")
    for junk in ("undefined", "NaN", "[object Object]"):
        check(junk not in drawn, "the page shows %r" % junk)

    # 3. The failure is red and carries its reason, the same as /status says.
    status = get_json(BASE + "/status")
    row = next(r for r in status["sessions"]["rows"] if r["session_id"] == FAILED_SESSION)
    check(row["state"] == "failed" and row["reason"], "/status row of the failed session: %r" % row)
    shown = evaluate("""(() => {
        const tr = document.querySelector('#sessions tr[data-session=%s]');
        const reason = tr.querySelector('td.reason');
        return {text: reason.textContent, color: getComputedStyle(reason).color,
                rowColor: getComputedStyle(tr.querySelector('td')).color};
    })()""" % json.dumps(FAILED_SESSION))
    check(shown["text"] == row["reason"], "reason on the page %r, in /status %r" % (shown["text"], row["reason"]))
    for what in ("color", "rowColor"):
        r, g, b = [int(x) for x in shown[what][shown[what].index("(") + 1:shown[what].index(")")].split(",")[:3]]
        check(r > g + 80 and r > b + 80, "failed row's %s is not red: %s" % (what, shown[what]))

    # 4. 320 px wide: nothing scrolls sideways but the table's own box.
    width = evaluate("document.documentElement.scrollWidth")
    check(width <= 320, "page is %d px wide at a 320 px viewport" % width)

    # 5. Keyboard: Tab reaches the filters; Enter on "failed" and Space on "stopped" filter the table.
    evaluate("document.activeElement && document.activeElement.blur(), window.focus(), true")

    def tab_to(value):
        for _ in range(60):
            key("Tab", "Tab", 9)
            if evaluate("document.activeElement && document.activeElement.dataset.filter") == value:
                return True
        return False

    if check(tab_to("failed"), "Tab never reached the 'failed' filter button"):
        outline = evaluate("getComputedStyle(document.activeElement).outlineStyle")
        check(outline not in ("none", ""), "focused filter button shows no outline (%r)" % outline)
        key("Enter", "Enter", 13, "\r")
        states = evaluate("[...document.querySelectorAll('#sessions tr')].map((r) => r.dataset.state)")
        pressed = evaluate("document.querySelector('[data-filter=failed]').getAttribute('aria-pressed')")
        check(pressed == "true", "Enter did not press the 'failed' filter")
        check(states and all(s == "failed" for s in states), "after Enter on 'failed' the table shows %r" % states)
        key("Tab", "Tab", 9)
        if check(evaluate("document.activeElement.dataset.filter") == "stopped", "Tab after 'failed' is not 'stopped'"):
            key(" ", "Space", 32, " ")
            want = [r["session_id"] for r in get_json(BASE + "/status")["sessions"]["rows"] if r["state"] == "stopped"]
            got = evaluate("[...document.querySelectorAll('#sessions tr')].map((r) => r.dataset.session)")
            check(got == want, "after Space on 'stopped' the table shows %r, /status has %r" % (got, want))
        evaluate("document.querySelector('[data-filter=all]').click(), true")

    # 6. Every request went under /cma/ (relative URLs), and the proxy saw the status fetch.
    urls = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
    outside = [u for u in urls if not u.startswith(PROXY + "/cma/") and not u.startswith("data:")]
    check(not outside, "requests outside the /cma/ prefix: %r" % outside)
    check("/cma/status" in Prefix.seen, "the page never fetched /cma/status (proxy saw %r)" % Prefix.seen[:20])

    # 7. A screenshot at a desktop width, for people.
    send("Emulation.setDeviceMetricsOverride", width=1100, height=1800, deviceScaleFactor=1, mobile=False)
    evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))")
    shot = send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    import base64
    with open(SCREENSHOT, "wb") as f:
        f.write(base64.b64decode(shot["data"]))

    # 8. No console error, no exception, no CSP violation (a Log entry at level error).
    ws.settimeout(0.5)
    try:
        while True:
            events.append(json.loads(ws.recv()))
    except Exception:
        pass
    for e in events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
            check(False, "console %s: %s" % (params["type"], json.dumps(params.get("args"))[:300]))
        elif method == "Runtime.exceptionThrown":
            check(False, "exception: %s" % json.dumps(params.get("exceptionDetails"))[:300])
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            check(False, "log %s (%s): %s" % (params["entry"]["level"], params["entry"].get("source"),
                                               params["entry"].get("text")))
    ws.close()
finally:
    chromium.terminate()
    try:
        chromium.wait(timeout=10)
    except subprocess.TimeoutExpired:
        chromium.kill()
    proxy.shutdown()

if problems:
    print("\n".join(problems))
    sys.exit(1)
print("status page: all checks passed (%d requests under /cma/)" % len(Prefix.seen))
