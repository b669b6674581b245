/**
 * The status page served at `GET /ui`: one self-contained HTML document with
 * inline CSS and JavaScript (no build step, no external resources). It polls
 * `v1/cluster/status` (relative, so it also works behind a path prefix) once
 * a second and renders members, roles, indexes, replication lag as bars and
 * recent leader changes. A "Live changes" panel follows `v1/watch?prefix=`
 * (every key) with a browser `EventSource`, which reconnects by itself with
 * `Last-Event-ID`; when a client token was entered (an `EventSource` cannot
 * send headers) it reads the same stream through `fetch` and reconnects
 * itself. It lists the newest changes' index, type, key and version, never
 * a value (only its size). Everything it inserts goes through
 * `textContent`, never through HTML.
 *
 * Hooks for tests: each member row is `tr[data-member-id]` with
 * `data-state` (`leader`, `follower`, `candidate`, `preCandidate`, `down`);
 * `<html>` gets `data-loaded` after the first successful refresh and, after
 * each, `data-members`, `data-up` and `data-leaders` (counts), so a test can
 * wait on a selector (the page's CSP forbids evaluating strings). The watch
 * sets `data-watch` (`open`, `reconnecting`) and `data-watch-id` (the last
 * id received) on `<html>`; each change row is `tr[data-change-index]` with
 * `data-key`.
 *
 * @module
 */

const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --panel: #fff; --text: #1d2330; --muted: #5d6675;
  --line: #dfe3ea; --track: #e8ebf0; --accent: #2f6fde;
  --leader: #137a3f; --leader-bg: #e3f5ea; --follower: #2f5fae;
  --follower-bg: #e6eefb; --candidate: #8a5a00; --candidate-bg: #fdf1d8;
  --down: #b3261e; --down-bg: #fbe4e2; --bar: #2f6fde; --bar-bad: #d9822b;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #12151b; --panel: #1b2029; --text: #e6e9ef; --muted: #9aa3b2;
    --line: #2c3340; --track: #2a303b; --accent: #7aa7ff;
    --leader: #6fd39a; --leader-bg: #173524; --follower: #8fb4ff;
    --follower-bg: #1b2a45; --candidate: #f2c266; --candidate-bg: #3a2e12;
    --down: #ff8a80; --down-bg: #3d1c1a; --bar: #7aa7ff; --bar-bad: #f0a35e;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
header {
  display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 16px;
  padding: 18px 28px 14px; background: var(--panel);
  border-bottom: 1px solid var(--line);
}
h1 { margin: 0; font-size: 20px; }
h2 { margin: 0 0 10px; font-size: 15px; }
#meta { margin: 0; color: var(--muted); }
#live::before {
  content: ""; display: inline-block; width: 8px; height: 8px;
  margin-right: 6px; border-radius: 50%; background: var(--leader);
}
#live.stale::before { background: var(--down); }
main {
  display: grid; gap: 18px; padding: 18px 28px 28px; max-width: 1240px;
}
section {
  background: var(--panel); border: 1px solid var(--line);
  border-radius: 8px; padding: 14px 16px;
}
#error {
  margin: 0; padding: 10px 14px; border-radius: 8px;
  background: var(--down-bg); color: var(--down); font-weight: 600;
}
#error[hidden], #token-form[hidden] { display: none; }
#token-form {
  display: flex; flex-wrap: wrap; align-items: center; gap: 8px;
  padding: 10px 14px; border: 1px solid var(--line); border-radius: 8px; background: var(--panel);
}
#token-form input { padding: 4px 8px; min-width: 260px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 0; }
.cards div { padding: 4px 2px; }
.cards dt { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.cards dd { margin: 2px 0 0; font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 7px 9px; text-align: left; border-bottom: 1px solid var(--line); white-space: nowrap; }
thead th { color: var(--muted); font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: .03em; }
td.num, th.num { text-align: right; }
tbody tr:last-child td, tbody tr:last-child th { border-bottom: 0; }
tr[data-state="leader"] { background: var(--leader-bg); }
tr[data-state="down"] { color: var(--muted); }
tbody th { font-weight: 600; }
.you { color: var(--muted); font-weight: 400; font-size: 12px; margin-left: 4px; }
.url { display: block; color: var(--muted); font-weight: 400; font-size: 12px; }
.why { display: block; color: var(--down); font-size: 11px; margin-top: 1px; }
.wide { overflow-x: auto; }
#changes { width: auto; min-width: 560px; }
#watch { width: auto; min-width: 560px; }
#watch td.key { max-width: 420px; overflow: hidden; text-overflow: ellipsis; }
#sum-leader.has-leader { color: var(--leader); }
.badge {
  display: inline-block; min-width: 72px; padding: 1px 8px; border-radius: 999px;
  font-size: 12px; font-weight: 600; text-align: center;
  background: var(--follower-bg); color: var(--follower);
}
.badge.leader { background: var(--leader-bg); color: var(--leader); outline: 1px solid var(--leader); }
.badge.candidate, .badge.preCandidate { background: var(--candidate-bg); color: var(--candidate); }
.badge.down { background: var(--down-bg); color: var(--down); }
.hint { margin: -4px 0 12px; color: var(--muted); }
#lag { list-style: none; margin: 0; padding: 0; display: grid; gap: 8px; }
#lag li { display: grid; grid-template-columns: 110px 1fr 290px; align-items: center; gap: 12px; }
.track { height: 14px; background: var(--track); border-radius: 7px; overflow: hidden; }
.fill { height: 100%; width: 0; background: var(--bar); border-radius: 7px; transition: width .4s; }
.fill.behind { background: var(--bar-bad); }
.fill.down { background: repeating-linear-gradient(135deg, var(--bar-bad) 0 6px, var(--track) 6px 10px); }
.lag-text { font-variant-numeric: tabular-nums; }
.empty { color: var(--muted); }
.visually-hidden {
  position: absolute; width: 1px; height: 1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap;
}
@media (max-width: 760px) {
  .cards { grid-template-columns: repeat(2, 1fr); }
  #lag li { grid-template-columns: 80px 1fr; }
  #lag .lag-text { grid-column: 1 / -1; }
}
`;

const SCRIPT = `
"use strict";
var REFRESH_MS = 1000;
var DATA_URL = "v1/cluster/status";
var LEASES_URL = "v1/leases";
var LEASES_SHOWN = 100;
var LOCKS_URL = "v1/kv?prefix=_locks/";
var $ = function (id) { return document.getElementById(id); };
var TOKEN_KEY = "raftkv-client-token";
var lastOk = 0;
var timer = 0;
var busy = false;

function el(tag, text, cls) {
  var e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function num(v) { return typeof v === "number" ? v.toLocaleString("en-US") : "\\u2013"; }
function plural(n, one, many) { return n === 1 ? one : many; }
function ago(ms) {
  var s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return s + " s ago";
  var m = Math.floor(s / 60);
  if (m < 60) return m + " min ago";
  return Math.floor(m / 60) + " h " + (m % 60) + " min ago";
}
function stateOf(m) { return m.up && m.status ? m.status.role : "down"; }
function label(state) {
  return state === "preCandidate" ? "pre-candidate" : state;
}

/** The member that leads in the highest term any member reports. */
function findLeader(data) {
  var best = null;
  data.members.forEach(function (m) {
    if (stateOf(m) !== "leader") return;
    if (!best || m.status.term > best.status.term) best = m;
  });
  return best;
}

/**
 * Entries each member is behind: against the leader's last index, using the
 * leader's match index per peer; without a leader, applied vs. the highest
 * known commit.
 */
function lags(data, leader) {
  var out = [];
  if (leader) {
    var s = leader.status;
    var last = typeof s.lastIndex === "number" ? s.lastIndex : s.commit;
    data.members.forEach(function (m) {
      var match = null;
      if (m.id === leader.id) match = last;
      else {
        var p = (s.peers || []).find(function (x) { return x.id === m.id; });
        if (p) match = p.match;
        else if (m.status) match = m.status.lastIndex;
      }
      out.push({ m: m, lag: match === null || match === undefined ? null : Math.max(0, last - match),
        basis: "leader's last index " + last.toLocaleString("en-US") });
    });
  } else {
    var top = 0;
    data.members.forEach(function (m) { if (m.status) top = Math.max(top, m.status.commit); });
    data.members.forEach(function (m) {
      out.push({ m: m, lag: m.status ? Math.max(0, top - m.status.applied) : null,
        basis: "highest commit " + top.toLocaleString("en-US") });
    });
  }
  return out;
}

function renderSummary(data, leader) {
  var up = data.members.filter(function (m) { return m.up; }).length;
  $("sum-leader").textContent = leader ? "node " + leader.id : "none";
  $("sum-leader").className = leader ? "has-leader" : "";
  $("sum-term").textContent = leader ? num(leader.status.term) : "\\u2013";
  $("sum-commit").textContent = leader ? num(leader.status.commit) : "\\u2013";
  $("sum-up").textContent = up + " of " + data.members.length;
}

function renderMembers(data) {
  var body = $("members-body");
  body.replaceChildren();
  data.members.forEach(function (m) {
    var state = stateOf(m);
    var s = m.status || {};
    var tr = el("tr");
    tr.dataset.memberId = String(m.id);
    tr.dataset.state = state;
    var th = el("th", "node " + m.id);
    th.scope = "row";
    if (m.id === data.node) th.append(el("span", "(serving this page)", "you"));
    if (m.url) th.append(el("span", m.url, "url"));
    tr.append(th);
    tr.append(el("td", m.role));
    var st = el("td");
    st.append(el("span", label(state), "badge " + state));
    if (!m.up && m.error) st.append(el("span", m.error, "why"));
    tr.append(st);
    tr.append(el("td", num(s.term), "num"));
    tr.append(el("td", s.leader ? "node " + s.leader : (m.up ? "none" : "\\u2013")));
    tr.append(el("td", num(s.commit), "num"));
    tr.append(el("td", num(s.applied), "num"));
    tr.append(el("td", num(s.lastIndex), "num"));
    tr.append(el("td", num(s.snapshotIndex), "num"));
    tr.append(el("td", num(s.keys), "num"));
    body.append(tr);
  });
}

function renderLag(data, leader) {
  var list = $("lag");
  list.replaceChildren();
  var rows = lags(data, leader);
  var worst = 0;
  rows.forEach(function (r) { if (r.lag !== null) worst = Math.max(worst, r.lag); });
  // At least 10 entries of scale, so a lag of 1 does not fill the bar.
  var scale = Math.max(worst, 10);
  $("lag-hint").textContent = (leader
    ? "Entries each member's log is behind the leader (node " + leader.id +
      "), from the leader's match index for it."
    : "No leader: entries each member's applied index is behind the highest known commit.") +
    " A full bar is " + scale.toLocaleString("en-US") + " entries.";
  rows.forEach(function (r) {
    var li = el("li");
    li.dataset.memberId = String(r.m.id);
    var name = el("span", "node " + r.m.id);
    var track = el("div", null, "track");
    track.setAttribute("aria-hidden", "true");
    var fill = el("div", null, "fill" + (!r.m.up ? " down" : r.lag ? " behind" : ""));
    var text;
    li.dataset.lag = r.lag === null ? "" : String(r.lag);
    if (r.lag === null) {
      text = r.m.up ? "unknown" : "down; lag unknown";
    } else {
      fill.style.width = (r.lag === 0 ? 0 : Math.max(2, 100 * r.lag / scale)) + "%";
      var behind = r.lag === 0 ? "in sync"
        : r.lag.toLocaleString("en-US") + " " + plural(r.lag, "entry", "entries") + " behind";
      text = r.m.up ? behind : "down; " + behind + " at last contact";
    }
    track.append(fill);
    li.append(name, track, el("span", text, "lag-text"));
    list.append(li);
  });
}

function renderChanges(data) {
  var body = $("changes-body");
  body.replaceChildren();
  if (data.leaderChanges.length === 0) {
    var tr = el("tr");
    var td = el("td", "No leader change seen since the members started.", "empty");
    td.colSpan = 4;
    tr.append(td);
    body.append(tr);
    return;
  }
  data.leaderChanges.forEach(function (c) {
    var tr = el("tr");
    tr.append(el("td", new Date(c.at).toLocaleTimeString()));
    tr.append(el("td", ago(data.at - c.at)));
    tr.append(el("td", num(c.term), "num"));
    tr.append(el("td", "node " + c.leader));
    body.append(tr);
  });
}

/** The leases table: at most LEASES_SHOWN rows, from GET /v1/leases. */
function renderLeases(list) {
  var body = $("leases-body");
  body.replaceChildren();
  if (!list) {
    var tr0 = el("tr");
    var td0 = el("td", "Leases unavailable (no leader?).", "empty");
    td0.colSpan = 4;
    tr0.append(td0);
    body.append(tr0);
    return;
  }
  document.documentElement.dataset.leases = String(list.length);
  if (list.length === 0) {
    var tr = el("tr");
    var td = el("td", "No lease.", "empty");
    td.colSpan = 4;
    tr.append(td);
    body.append(tr);
    return;
  }
  list.slice(0, LEASES_SHOWN).forEach(function (l) {
    var tr = el("tr");
    tr.dataset.leaseId = String(l.id);
    tr.append(el("td", num(l.id), "num"));
    tr.append(el("td", num(l.ttl) + " s", "num"));
    tr.append(el("td", l.remaining.toFixed(1) + " s", "num"));
    var keys = l.keys.slice(0, 5).join(", ") + (l.keys.length > 5 ? " \u2026 (" + l.keys.length + ")" : "");
    tr.append(el("td", keys));
    body.append(tr);
  });
}

async function refreshLeases() {
  try {
    var res = await fetch(LEASES_URL, { cache: "no-store", headers: requestHeaders() });
    renderLeases(res.ok ? (await res.json()).leases : undefined);
  } catch (_) {
    renderLeases(undefined);
  }
}

/**
 * The locks table, from the lock keys _locks/{name}/{lease}: per name, the
 * holder is the key created first (its createIndex is the fence), the
 * others wait.
 */
function renderLocks(items) {
  var body = $("locks-body");
  body.replaceChildren();
  var row = function (text) {
    var tr = el("tr");
    var td = el("td", text, "empty");
    td.colSpan = 4;
    tr.append(td);
    body.append(tr);
  };
  if (!items) return row("Locks unavailable (no leader?).");
  var byName = new Map();
  items.forEach(function (it) {
    var name = it.key.slice("_locks/".length, it.key.lastIndexOf("/"));
    var q = byName.get(name) || [];
    q.push(it);
    byName.set(name, q);
  });
  document.documentElement.dataset.locks = String(byName.size);
  if (byName.size === 0) return row("No lock.");
  byName.forEach(function (q, name) {
    q.sort(function (a, b) { return a.createIndex - b.createIndex; });
    var tr = el("tr");
    tr.dataset.lock = name;
    tr.dataset.fence = String(q[0].createIndex);
    tr.append(el("td", name));
    tr.append(el("td", q[0].lease ? num(q[0].lease) : "\u2013", "num"));
    tr.append(el("td", num(q[0].createIndex), "num"));
    tr.append(el("td", num(q.length - 1), "num"));
    body.append(tr);
  });
}

async function refreshLocks() {
  try {
    var res = await fetch(LOCKS_URL, { cache: "no-store", headers: requestHeaders() });
    renderLocks(res.ok ? (await res.json()).items : undefined);
  } catch (_) {
    renderLocks(undefined);
  }
}

function render(data) {
  var leader = findLeader(data);
  var root = document.documentElement.dataset;
  root.members = String(data.members.length);
  root.up = String(data.members.filter(function (m) { return m.up; }).length);
  root.leaders = String(data.members.filter(function (m) { return stateOf(m) === "leader"; }).length);
  renderSummary(data, leader);
  renderMembers(data);
  renderLag(data, leader);
  renderChanges(data);
  document.title = (leader ? "leader node " + leader.id : "no leader") + " \\u00b7 raftkv";
}

function showError(text) {
  var e = $("error");
  e.textContent = text;
  e.hidden = false;
  $("live").className = "stale";
}

/** Headers of the data request: the client token, when one was entered. */
function requestHeaders() {
  var h = { accept: "application/json" };
  var token = sessionStorage.getItem(TOKEN_KEY);
  if (token) h.authorization = "Bearer " + token;
  return h;
}

async function refresh() {
  if (busy) return;
  busy = true;
  clearTimeout(timer);
  try {
    var res = await fetch(DATA_URL, { cache: "no-store", headers: requestHeaders() });
    if (res.status === 401) {
      $("token-form").hidden = false;
      throw new Error("this node requires a client token; enter it below");
    }
    if (!res.ok) {
      var why = res.status + " " + res.statusText;
      try { why = (await res.json()).error.message || why; } catch (_) { /* not JSON */ }
      throw new Error(why);
    }
    var data = await res.json();
    render(data);
    await refreshLeases();
    await refreshLocks();
    lastOk = Date.now();
    $("error").hidden = true;
    $("live").className = "";
    $("updated").textContent = new Date(lastOk).toLocaleTimeString();
    $("serving").textContent = "node " + data.node;
    document.documentElement.dataset.loaded = "true";
  } catch (e) {
    showError("Cannot load the cluster status: " + (e && e.message ? e.message : e) +
      (lastOk ? " (showing data from " + new Date(lastOk).toLocaleTimeString() + ")" : ""));
  } finally {
    busy = false;
    timer = setTimeout(tick, REFRESH_MS);
  }
}
function tick() {
  if (document.hidden) timer = setTimeout(tick, REFRESH_MS);
  else refresh();
}
var WATCH_URL = "v1/watch?prefix=";
var WATCH_ROWS = 20;
var watchSource = null;
var watchAbort = null;
var watchLastId = "";
function setWatchState(state) {
  document.documentElement.dataset.watch = state;
  $("watch-state").textContent = state === "open" ? "live" : "reconnecting\\u2026";
}
function showChange(msg) {
  var body = $("watch-body");
  var empty = body.querySelector(".empty");
  if (empty) empty.remove();
  msg.events.forEach(function (e) {
    var tr = el("tr");
    tr.dataset.changeIndex = String(msg.index);
    tr.dataset.key = e.key;
    tr.appendChild(el("td", num(msg.index), "num"));
    tr.appendChild(el("td", e.type));
    tr.appendChild(el("td", e.key, "key"));
    tr.appendChild(el("td", e.type === "put" ? num(e.version) : "\\u2013", "num"));
    var size = e.value !== undefined ? new TextEncoder().encode(e.value).length
      : e.value64 !== undefined ? Math.floor(e.value64.length * 3 / 4) : null;
    tr.appendChild(el("td", size === null ? "\\u2013" : num(size) + " B", "num"));
    body.insertBefore(tr, body.firstChild);
  });
  while (body.children.length > WATCH_ROWS) body.lastChild.remove();
}
function onWatchEvent(type, id, data) {
  if (id) {
    watchLastId = id;
    document.documentElement.dataset.watchId = id;
  }
  setWatchState("open");
  if (type === "message") showChange(JSON.parse(data));
  if (type === "cancelled") {
    // Too slow for the node's buffer: resume where the node says.
    var c = JSON.parse(data);
    watchLastId = String(c.resume - 1);
  }
}
/** Follows the watch: EventSource, or fetch when a token must be sent. */
function startWatch() {
  if (watchSource) watchSource.close();
  if (watchAbort) watchAbort.abort();
  watchSource = null;
  watchAbort = null;
  var token = sessionStorage.getItem(TOKEN_KEY);
  if (!token && window.EventSource) {
    var es = new EventSource(WATCH_URL);
    watchSource = es;
    es.onopen = function () { setWatchState("open"); };
    es.onmessage = function (ev) { onWatchEvent("message", ev.lastEventId, ev.data); };
    es.addEventListener("progress", function (ev) { onWatchEvent("progress", ev.lastEventId, ev.data); });
    es.addEventListener("cancelled", function (ev) { onWatchEvent("cancelled", "", ev.data); });
    es.onerror = function () {
      setWatchState("reconnecting");
      // A refusal (401, 410) closes an EventSource for good: start over.
      if (es.readyState === EventSource.CLOSED) setTimeout(startWatch, 2000);
    };
    return;
  }
  watchAbort = new AbortController();
  fetchWatch(token, watchAbort.signal);
}
async function fetchWatch(token, signal) {
  while (!signal.aborted) {
    try {
      var headers = { accept: "text/event-stream" };
      if (token) headers.authorization = "Bearer " + token;
      if (watchLastId) headers["last-event-id"] = watchLastId;
      var res = await fetch(WATCH_URL, { cache: "no-store", headers: headers, signal: signal });
      if (res.status === 410) watchLastId = "";
      if (!res.ok) throw new Error(String(res.status));
      setWatchState("open");
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buf = "";
      for (;;) {
        var r = await reader.read();
        if (r.done) break;
        buf += decoder.decode(r.value, { stream: true });
        var end;
        while ((end = buf.indexOf("\\n\\n")) >= 0) {
          var block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          var type = "message", id = "", data = "";
          block.split("\\n").forEach(function (line) {
            var i = line.indexOf(": ");
            var field = i < 0 ? line : line.slice(0, i);
            var value = i < 0 ? "" : line.slice(i + 2);
            if (field === "event") type = value;
            else if (field === "id") id = value;
            else if (field === "data") data = value;
          });
          onWatchEvent(type, id, data);
        }
      }
    } catch (_) { /* reconnect below */ }
    if (signal.aborted) return;
    setWatchState("reconnecting");
    await new Promise(function (r) { setTimeout(r, 1000); });
  }
}
$("token-form").addEventListener("submit", function (ev) {
  ev.preventDefault();
  var value = $("token").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
  $("token").value = "";
  $("token-form").hidden = true;
  refresh();
  startWatch();
});
refresh();
startWatch();
`;

/** The complete status page. */
export const UI_PAGE_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>raftkv status</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>raftkv cluster status</h1>
  <p id="meta"><span id="live" class="stale">served by <span id="serving">\u2013</span></span>
    \u00b7 refreshes every second \u00b7 last update <span id="updated">never</span></p>
</header>
<main>
  <p id="error" role="alert" hidden></p>
  <form id="token-form" hidden>
    <label for="token">Client token</label>
    <input id="token" type="password" autocomplete="off" required>
    <button type="submit">Use token</button>
    <span class="you">kept in this tab only (sessionStorage)</span>
  </form>
  <section aria-labelledby="summary-heading">
    <h2 id="summary-heading">Overview</h2>
    <dl class="cards">
      <div><dt>Leader</dt><dd id="sum-leader">\u2013</dd></div>
      <div><dt>Term</dt><dd id="sum-term">\u2013</dd></div>
      <div><dt>Commit index</dt><dd id="sum-commit">\u2013</dd></div>
      <div><dt>Members up</dt><dd id="sum-up">\u2013</dd></div>
    </dl>
  </section>
  <section aria-labelledby="members-heading" class="wide">
    <h2 id="members-heading">Members</h2>
    <table id="members">
      <caption class="visually-hidden">Each member's role and Raft indexes as it reports them</caption>
      <thead><tr>
        <th scope="col">Node</th><th scope="col">Membership</th>
        <th scope="col">State</th><th scope="col" class="num">Term</th><th scope="col">Sees leader</th>
        <th scope="col" class="num">Commit</th><th scope="col" class="num">Applied</th>
        <th scope="col" class="num">Last index</th><th scope="col" class="num">Snapshot</th>
        <th scope="col" class="num">Keys</th>
      </tr></thead>
      <tbody id="members-body"><tr><td colspan="10" class="empty">Loading\u2026</td></tr></tbody>
    </table>
  </section>
  <section aria-labelledby="lag-heading">
    <h2 id="lag-heading">Replication lag</h2>
    <p class="hint" id="lag-hint"></p>
    <ul id="lag"></ul>
  </section>
  <section aria-labelledby="leases-heading" class="wide">
    <h2 id="leases-heading">Leases</h2>
    <table id="leases">
      <caption class="visually-hidden">Leases by id, with the leader's countdown</caption>
      <thead><tr><th scope="col" class="num">Id</th><th scope="col" class="num">TTL</th><th scope="col" class="num">Remaining</th><th scope="col">Keys</th></tr></thead>
      <tbody id="leases-body"></tbody>
    </table>
  </section>
  <section aria-labelledby="locks-heading" class="wide">
    <h2 id="locks-heading">Locks</h2>
    <table id="locks">
      <caption class="visually-hidden">Locks by name: the holding lease, its fence and the waiters</caption>
      <thead><tr><th scope="col">Name</th><th scope="col" class="num">Held by lease</th><th scope="col" class="num">Fence</th><th scope="col" class="num">Waiters</th></tr></thead>
      <tbody id="locks-body"></tbody>
    </table>
  </section>
  <section aria-labelledby="watch-heading" class="wide">
    <h2 id="watch-heading">Live changes <span class="you" id="watch-state">connecting\u2026</span></h2>
    <p class="hint">The newest 20 changes to any key, as they are applied (a watch on this node). Values are not shown, only their size.</p>
    <table id="watch">
      <caption class="visually-hidden">Changes to keys, newest first</caption>
      <thead><tr><th scope="col" class="num">Index</th><th scope="col">Change</th><th scope="col">Key</th><th scope="col" class="num">Version</th><th scope="col" class="num">Value size</th></tr></thead>
      <tbody id="watch-body"><tr><td colspan="5" class="empty">No change since this page opened.</td></tr></tbody>
    </table>
  </section>
  <section aria-labelledby="changes-heading" class="wide">
    <h2 id="changes-heading">Recent leader changes</h2>
    <table id="changes">
      <caption class="visually-hidden">Leaders that took office, newest first</caption>
      <thead><tr><th scope="col">Time</th><th scope="col">Age</th><th scope="col" class="num">Term</th><th scope="col">New leader</th></tr></thead>
      <tbody id="changes-body"></tbody>
    </table>
  </section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
