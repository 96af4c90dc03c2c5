// Live view of GET /status. Every value from the server is written with textContent,
// never parsed as HTML: ids, error messages and details come from upstream APIs.
"use strict";

(() => {
  const STATUS_URL = "status"; // relative, so the page also works behind a path prefix
  const INTERVAL_MS = 2000;
  // After failed fetches the wait doubles up to this, so a down server is not hammered.
  const MAX_INTERVAL_MS = 60000;
  // Shorter than the interval, so that a hung request never delays the next one.
  const TIMEOUT_MS = 1800;
  const SVG = "http://www.w3.org/2000/svg";
  const STATES = ["launching", "running", "paused", "failed", "stopped"];

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let lastGood = null;
  let failures = 0;
  let filter = "all";
  let lastStatus = null;

  // `className`, when given, replaces the element's class (a warn/bad flag or none).
  function text(id, value, className) {
    const el = $(id);
    el.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
    if (className !== undefined) el.className = className;
  }

  function yesNo(value) {
    if (value === true) return "yes";
    if (value === false) return "no";
    return "–";
  }

  function count(value) {
    return Number.isFinite(value) ? value.toLocaleString() : "–";
  }

  function duration(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return "–";
    let s = Math.floor(seconds);
    const parts = [];
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) {
      if (s >= size || parts.length) {
        parts.push(Math.floor(s / size) + unit);
        s %= size;
      }
    }
    parts.push(s + "s");
    return parts.join(" ");
  }

  function time(iso) {
    if (typeof iso !== "string") return "–";
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return iso;
    const ago = Math.max(0, Math.round((Date.now() - t) / 1000));
    return new Date(t).toLocaleTimeString() + " (" + duration(ago) + " ago)";
  }

  function render(s) {
    text("version", s.version ? "v" + s.version : "");
    const ready = $("ready");
    ready.textContent = yesNo(s.ready);
    ready.className = s.ready === true ? "ok" : "bad";
    const reasons = $("reasons");
    reasons.replaceChildren(...(Array.isArray(s.not_ready_reasons) ? s.not_ready_reasons : []).map((r) => {
      const li = document.createElement("li");
      li.textContent = String(r);
      return li;
    }));

    text("mode", s.mode ? s.mode + (s.emulated ? " (emulated)" : "") : "");
    text("uptime", duration(s.uptime_seconds));
    text("environment", s.environment_id);
    const t = s.template || {};
    text("template", t.name ? t.name + ": " + (t.status || "unknown") : "");

    const d = s.drain || {};
    text("draining", yesNo(d.draining));
    text("polling", d.polling === true ? "polling" : d.polling === false ? "idle" : "");
    text("drains", count(d.drains_started));
    text("last-success", d.last_success ? time(d.last_success) : "never");
    const lastError = $("last-error");
    lastError.textContent = d.last_error ? String(d.last_error) : "none";
    lastError.className = d.last_error ? "bad" : "";

    const l = s.launches || {};
    text("launched", count(l.launched));
    text("failed", count(l.failed));
    text("in-flight", count(l.in_flight));
    const w = s.webhooks || {};
    text("wh-queued", count(w.queued));
    text("wh-ignored", count(w.ignored));
    text("wh-duplicate", count(w.duplicate));
    text("wh-rejected", count(w.rejected));

    renderEnvironments(s.environments);
    renderUpstreams(s.upstreams);
    renderSuperserve(s.superserve);
    renderWarmPool(s.warm_pool);
    renderReconciler(s.reconciler);
    renderRecent(Array.isArray(s.recent) ? s.recent : []);
    renderSessions(s.sessions || {});
    renderSandboxes(s.sandboxes || {});
    renderPlots(s.series || {});
  }

  // A table cell holding text, or a node (a badge, a <time>).
  function cell(tr, value, className) {
    const td = document.createElement("td");
    if (value instanceof Node) td.appendChild(value);
    else td.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
    if (className) td.className = className;
    tr.appendChild(td);
  }

  function seconds(value) {
    return Number.isFinite(value) ? (value < 10 ? value.toFixed(2) + " s" : duration(value)) : "–";
  }

  function renderSessions(board) {
    const rows = Array.isArray(board.rows) ? board.rows : [];
    const byState = board.by_state || {};
    for (const span of document.querySelectorAll("[data-count]")) {
      const state = span.dataset.count;
      span.textContent = count(state === "all" ? rows.length : byState[state]);
    }
    const shown = rows.filter((r) => filter === "all" || r.state === filter).map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.session = String(r.session_id || "");
      tr.dataset.state = String(r.state || "");
      tr.className = r.state === "failed" ? "bad" : r.state === "running" ? "ok" : "";
      cell(tr, r.state, "state");
      cell(tr, r.session_id);
      cell(tr, r.sandbox_id);
      cell(tr, r.launched_at ? time(r.launched_at) : null);
      cell(tr, seconds(r.launch_seconds));
      cell(tr, r.runner_state);
      cell(tr, Number.isFinite(r.idle_seconds) ? duration(r.idle_seconds) : null);
      cell(tr, r.environment_id);
      cell(tr, r.reason, r.state === "failed" ? "reason bad" : "reason");
      return tr;
    });
    $("sessions").replaceChildren(...shown);
    $("sessions-empty").hidden = shown.length > 0;
  }

  // A section whose field /status does not carry (an older server, no warm pool) is
  // hidden rather than drawn with dashes; `[hidden]` wins over the grid layouts in CSS.
  function present(value) {
    return value !== null && typeof value === "object";
  }

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  // A state word in a pill. The colour comes from a fixed map, never from the data.
  function badge(state, classes) {
    const span = document.createElement("span");
    span.textContent = state === null || state === undefined || state === "" ? "–" : String(state);
    span.className = "badge " + (classes[state] || "");
    return span;
  }

  const ENVIRONMENT_STATES = { ready: "ok", checking: "warn", failing: "bad" };
  const UPSTREAM_STATES = { ok: "ok", failing: "warn", outage: "bad" };

  // The machine-readable instant stays in `datetime`, the text is for people.
  function timeNode(iso, none) {
    if (typeof iso !== "string") return document.createTextNode(none);
    const el = document.createElement("time");
    el.dateTime = iso;
    el.textContent = time(iso);
    return el;
  }

  function renderEnvironments(environments) {
    show("environments-section", Array.isArray(environments));
    if (!Array.isArray(environments)) return;
    const rows = environments.filter(present).map((e) => {
      const tr = document.createElement("tr");
      tr.dataset.environment = String(e.id || "");
      tr.dataset.state = String(e.state || "");
      cell(tr, e.id, "id");
      cell(tr, badge(e.state, ENVIRONMENT_STATES), "state");
      cell(tr, e.problem, e.problem ? "problem bad" : "problem");
      const t = e.template || {};
      cell(tr, t.name ? t.name + ": " + (t.status || "unknown") : null, "template");
      const d = e.drain || {};
      const drain = [];
      if (typeof d.draining === "boolean" || typeof d.polling === "boolean") {
        drain.push(d.draining === true ? "draining" : d.polling === true ? "polling" : "idle");
      }
      if (Number.isFinite(d.drains_started)) drain.push(count(d.drains_started) + " drains");
      if (d.pending_stops > 0) drain.push(count(d.pending_stops) + " stops pending");
      cell(tr, drain.join(", "), "drain");
      if (d.last_error) cell(tr, d.last_error, "poll bad");
      else cell(tr, timeNode(d.last_success, "never"), "poll");
      const l = e.launches || {};
      cell(tr, count(l.launched), "launched");
      cell(tr, count(l.failed), l.failed > 0 ? "failed bad" : "failed");
      cell(tr, count(l.in_flight), "in-flight");
      return tr;
    });
    $("environments").replaceChildren(...rows);
  }

  function renderUpstreams(upstreams) {
    show("upstreams-section", present(upstreams));
    if (!present(upstreams)) return;
    const rows = Object.keys(upstreams).filter((name) => present(upstreams[name])).map((name) => {
      const u = upstreams[name];
      const tr = document.createElement("tr");
      tr.dataset.upstream = name;
      tr.dataset.state = String(u.state || "");
      cell(tr, name, "name");
      cell(tr, badge(u.state, UPSTREAM_STATES), "state");
      cell(tr, timeNode(u.failing_since, "–"), "failing-since");
      cell(tr, timeNode(u.last_success, "never"), "last-success");
      cell(tr, u.last_failure, u.last_failure && u.state !== "ok" ? "last-failure bad" : "last-failure");
      return tr;
    });
    $("upstreams").replaceChildren(...rows);
  }

  function rate(value) {
    return Number.isFinite(value) ? String(value) + "/s" : null;
  }

  function renderSuperserve(s) {
    show("superserve-section", present(s));
    if (!present(s)) return;
    text("ss-rate", rate(s.rate_per_second));
    text("ss-limit", s.reported_limit_per_second === null ? "not reported yet" : rate(s.reported_limit_per_second));
    text("ss-waiters", count(s.bucket_waiters), s.bucket_waiters > 0 ? "warn" : "");
    // Each 429 paused the bucket; only those showing the team's budget ran out halved its rate.
    text("ss-limited", count(s.rate_limited) + " (" + count(s.rate_halvings) + " halved the rate)");
    const q = s.quota;
    show("quota", present(q));
    if (!present(q)) return;
    text("quota-waiting", count(q.waiting), q.waiting > 0 ? "warn" : "");
    text("quota-paused", count(q.paused_for_room));
    $("quota-last").replaceChildren(timeNode(q.last_pressure, "never"));
  }

  function renderWarmPool(pool) {
    show("warm-pool-section", present(pool));
    if (!present(pool)) return;
    text("pool-ready", count(pool.ready) + " / " + count(pool.size), pool.ready < pool.size ? "warn" : "");
    const claims = pool.claims || {};
    text("pool-won", count(claims.won));
    text("pool-lost", count(claims.lost));
    text("pool-empty", count(claims.empty));
    text("pool-created", count(pool.created));
    text("pool-refill-failures", count(pool.refill_failures), pool.refill_failures > 0 ? "bad" : "");
    text("pool-recycled", count(pool.recycled));
  }

  function renderReconciler(r) {
    show("reconciler-section", present(r));
    if (!present(r)) return;
    $("rec-last").replaceChildren(timeNode(r.last_pass_at, "never"));
    text("rec-listed", count(r.last_listed));
    text("rec-found", count(r.last_candidates));
    text("rec-stopped", count(r.orphans_stopped));
    text("rec-error", r.last_error ? String(r.last_error) : "none", r.last_error ? "bad" : "");
    text("rec-schedule", Number.isFinite(r.interval_seconds)
      ? "every " + duration(r.interval_seconds) + ", items acked at least " + duration(r.minimum_age_seconds) + " ago" : null);
  }

  function renderSandboxes(sandboxes) {
    const byState = sandboxes.by_state || {};
    const items = STATES.map((state) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      dt.textContent = state;
      const dd = document.createElement("dd");
      dd.id = "sandboxes-" + state;
      dd.textContent = count(byState[state]);
      if (state === "failed" && byState[state] > 0) dd.className = "bad";
      div.append(dt, dd);
      return div;
    });
    $("sandboxes").replaceChildren(...items);
  }

  // Inline SVG, drawn here: the CSP allows no external script or inline style, and
  // presentation attributes are not styles.
  function svg(name, attrs) {
    const el = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    return el;
  }

  const W = 600, H = 120, PAD = 24;

  function frame(max, label, total) {
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": label,
                              "data-total": total });
    root.appendChild(svg("line", { x1: PAD, y1: H - PAD, x2: W, y2: H - PAD, class: "axis" }));
    const top = svg("text", { x: 0, y: 12, class: "tick" });
    top.textContent = String(max);
    const bottom = svg("text", { x: 0, y: H - PAD, class: "tick" });
    bottom.textContent = "0";
    const left = svg("text", { x: PAD, y: H - 6, class: "tick" });
    left.textContent = "-60 min";
    const right = svg("text", { x: W, y: H - 6, class: "tick", "text-anchor": "end" });
    right.textContent = "now";
    root.append(top, bottom, left, right);
    return root;
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(value)));
    for (const m of [1, 2, 5, 10]) if (m * p >= value) return m * p;
    return 10 * p;
  }

  // Stacked bars, one per minute; `parts` maps a minute to [[value, class]...].
  function bars(id, minutes, parts, label) {
    const totals = minutes.map((m) => parts(m).reduce((a, [v]) => a + v, 0));
    const sum = totals.reduce((a, b) => a + b, 0);
    const max = niceMax(Math.max(0, ...totals));
    const root = frame(max, label + ": " + sum + " in the last hour", sum);
    const step = (W - PAD) / Math.max(1, minutes.length);
    minutes.forEach((m, i) => {
      let y = H - PAD;
      for (const [value, cls] of parts(m)) {
        if (!(value > 0)) continue;
        const h = (value / max) * (H - PAD - 14);
        y -= h;
        const rect = svg("rect", { x: PAD + i * step + 1, y, width: Math.max(1, step - 2), height: h, class: cls });
        const title = svg("title", {});
        title.textContent = new Date(Date.parse(m.start)).toLocaleTimeString() + ": " + value;
        rect.appendChild(title);
        root.appendChild(rect);
      }
    });
    $(id).replaceChildren(root);
  }

  function lines(id, minutes, keys, label) {
    const values = minutes.flatMap((m) => keys.map((k) => (m.launch_seconds || {})[k]).filter(Number.isFinite));
    const max = niceMax(Math.max(0, ...values));
    const root = frame(max, label, values.length);
    const step = (W - PAD) / Math.max(1, minutes.length);
    for (const key of keys) {
      const points = [];
      minutes.forEach((m, i) => {
        const v = (m.launch_seconds || {})[key];
        if (Number.isFinite(v)) points.push((PAD + i * step + step / 2).toFixed(1) + "," + (H - PAD - (v / max) * (H - PAD - 14)).toFixed(1));
      });
      if (points.length === 0) continue;
      root.appendChild(svg("polyline", { points: points.join(" "), class: "line " + key }));
      for (const p of points) {
        const [cx, cy] = p.split(",");
        root.appendChild(svg("circle", { cx, cy, r: 2.5, class: "dot " + key }));
      }
    }
    $(id).replaceChildren(root);
  }

  function renderPlots(series) {
    const minutes = Array.isArray(series.minutes) ? series.minutes : [];
    const n = (o, k) => (o && Number.isFinite(o[k]) ? o[k] : 0);
    bars("plot-launches", minutes, (m) => [[n(m.launches, "launched"), "ok"], [n(m.launches, "failed"), "bad"]],
         "Launches per minute");
    lines("plot-durations", minutes, ["p50", "p90", "p99"], "Launch duration percentiles per minute");
    bars("plot-webhooks", minutes, (m) => {
      const w = m.webhooks || {};
      const other = Object.keys(w).filter((k) => !["queued", "rejected", "malformed"].includes(k))
        .reduce((a, k) => a + n(w, k), 0);
      return [[n(w, "queued"), "ok"], [other, "other"], [n(w, "rejected") + n(w, "malformed"), "bad"]];
    }, "Webhooks per minute");
  }

  function setFilter(value) {
    filter = value;
    for (const b of document.querySelectorAll("[data-filter]")) {
      b.setAttribute("aria-pressed", b.dataset.filter === value ? "true" : "false");
    }
    if (lastStatus) renderSessions(lastStatus.sessions || {});
  }

  // Real buttons: Enter and Space activate them, Tab reaches them.
  for (const b of document.querySelectorAll("[data-filter]")) {
    b.addEventListener("click", () => setFilter(b.dataset.filter));
  }

  function renderRecent(entries) {
    // Newest first whatever order the server keeps; the sort is stable for equal times.
    const at = (e) => { const t = Date.parse(e && e.at); return Number.isNaN(t) ? -Infinity : t; };
    const rows = entries.slice().sort((a, b) => at(b) - at(a)).map((e) => {
      const tr = document.createElement("tr");
      const event = String(e.event || "");
      tr.className = event === "launched" ? "ok" : event === "failed" ? "bad" : "";
      for (const value of [time(e.at), event, e.session_id, e.work_id, e.sandbox_id, e.detail]) {
        const td = document.createElement("td");
        td.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
        tr.appendChild(td);
      }
      return tr;
    });
    $("recent").replaceChildren(...rows);
    $("recent-empty").hidden = rows.length > 0;
  }

  function banner(message, state) {
    const b = $("banner");
    b.textContent = message;
    b.className = "banner " + state;
    document.body.classList.toggle("stale", state === "error" && lastGood !== null);
  }

  async function refresh() {
    const controller = new AbortController();
    const abort = setTimeout(() => controller.abort(), TIMEOUT_MS);
    try {
      const response = await fetch(STATUS_URL, {
        cache: "no-store",
        headers: { Accept: "application/json" },
        signal: controller.signal,
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const body = await response.json();
      if (body === null || typeof body !== "object") throw new Error("unexpected answer");
      render(body);
      lastStatus = body;
      failures = 0;
      lastGood = Date.now();
      banner("Updated " + new Date(lastGood).toLocaleTimeString(), body.ready === true ? "ok" : "warn");
    } catch (err) {
      const why = err && err.name === "AbortError" ? "timed out" : (err && err.message) || "network error";
      const since = lastGood === null ? "" : "; showing values from " + new Date(lastGood).toLocaleTimeString();
      failures += 1;
      banner("Status unavailable (" + why + ")" + since + "; retrying in " + Math.round(delay() / 1000) + " s", "error");
    } finally {
      clearTimeout(abort);
      schedule();
    }
  }

  // Doubles per consecutive failure, up to MAX_INTERVAL_MS.
  function delay() {
    return Math.min(MAX_INTERVAL_MS, INTERVAL_MS * Math.pow(2, Math.min(failures, 10)));
  }

  function schedule() {
    clearTimeout(timer);
    // A chained timeout rather than setInterval: requests never overlap. A hidden tab
    // fetches nothing until it is shown again.
    timer = document.hidden ? null : setTimeout(refresh, delay());
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else {
      refresh();
    }
  });

  refresh();
})();
