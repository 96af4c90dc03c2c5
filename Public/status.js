// Live view of GET /status. Every value from the server is written with textContent,
// never parsed as HTML: ids, error messages and details come from upstream APIs.
"use strict";

(() => {
  const STATUS_URL = "status"; // relative, so the page also works behind a path prefix
  const INTERVAL_MS = 2000;
  // Shorter than the interval, so that a hung request never delays the next one.
  const TIMEOUT_MS = 1800;

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let lastGood = null;

  function text(id, value) {
    $(id).textContent = value === null || value === undefined || value === "" ? "–" : String(value);
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

    renderRecent(Array.isArray(s.recent) ? s.recent : []);
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
      lastGood = Date.now();
      banner("Updated " + new Date(lastGood).toLocaleTimeString(), body.ready === true ? "ok" : "warn");
    } catch (err) {
      const why = err && err.name === "AbortError" ? "timed out" : (err && err.message) || "network error";
      const since = lastGood === null ? "" : "; showing values from " + new Date(lastGood).toLocaleTimeString();
      banner("Status unavailable (" + why + ")" + since, "error");
    } finally {
      clearTimeout(abort);
      schedule();
    }
  }

  function schedule() {
    clearTimeout(timer);
    // A chained timeout rather than setInterval: requests never overlap.
    timer = document.hidden ? null : setTimeout(refresh, INTERVAL_MS);
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
