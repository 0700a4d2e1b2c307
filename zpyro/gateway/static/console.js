// zpyro console: names, pools and announcements, live; a form to call a method.
// Plain JavaScript, no build step. Every URL is relative, so the gateway may be mounted anywhere.
"use strict";

const FEED_LINES = 200;        // announcements kept on the page
const REFRESH_MS = 2000;       // pools' free slots change with every call: refresh this often
const STALE_BEAT_MS = 5000;    // no broker.alive for this long: show the broker as silent

let key = sessionStorage.getItem("zpyro-gateway-key") || "";
let lastBeat = 0;
let refreshTimer = null;
let events = null;

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function keyHeaders(extra) {
  const headers = Object.assign({}, extra || {});
  if (key) headers["X-Pyro-Gateway-Key"] = key;
  return headers;
}

// -- the HTTP API, as any page script would use it ----------------------------------------------

// call(name, method, args, kwargs, {oneway, correlationId, onLine}) -> {status, correlationId, body}
// A generator's result arrives as JSON lines: onLine(item) sees each as it comes.
async function call(name, method, args, kwargs, options) {
  const opts = options || {};
  const headers = keyHeaders({"Content-Type": "application/json", "Accept": "application/json"});
  if (opts.oneway) headers["X-Pyro-Options"] = "oneway";
  if (opts.correlationId) headers["X-Pyro-Correlation-Id"] = opts.correlationId;
  const url = "pyro/" + encodeURIComponent(name) + "/" + encodeURIComponent(method);
  const res = await fetch(url, {
    method: "POST",
    headers: headers,
    body: JSON.stringify({args: args || [], kwargs: kwargs || {}}),
  });
  const out = {status: res.status, correlationId: res.headers.get("X-Pyro-Correlation-Id")};
  const type = res.headers.get("Content-Type") || "";
  if (type.startsWith("application/x-ndjson")) {
    out.body = await readLines(res, opts.onLine);
  } else {
    const text = await res.text();
    out.body = text ? JSON.parse(text) : null;
  }
  return out;
}

async function readLines(res, onLine) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const items = [];
  let pending = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (value) pending += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, cut);
      pending = pending.slice(cut + 1);
      if (!line) continue;
      const item = JSON.parse(line);
      items.push(item);
      if (onLine) onLine(item);
    }
    if (done) return items;
  }
}

async function meta(name) {
  const res = await fetch("pyro/" + encodeURIComponent(name) + "/$meta", {headers: keyHeaders()});
  if (!res.ok) throw new Error("$meta of " + name + ": " + res.status + " " + await res.text());
  return res.json();
}

window.zpyro = {call: call, meta: meta};

// -- the picture: names and pools ---------------------------------------------------------------

async function refresh() {
  let state;
  try {
    const res = await fetch("console/state", {headers: keyHeaders()});
    if (res.status === 403) {
      $("key-form").hidden = false;
      setStatus("the gateway wants its key", "bad");
      return;
    }
    state = await res.json();
  } catch (err) {
    setStatus("gateway unreachable: " + err, "bad");
    return;
  }
  showAbout(state.gateway);
  showNames(state.names);
  showPools(state.pools, state.pools_error);
}

function showAbout(g) {
  const parts = ["zpyro " + g.version, "name server " + g.name_server,
                 "expose " + (g.expose === null ? "(every name)" : g.expose)];
  if (g.epoch !== null) parts.push("epoch " + g.epoch + ", seq " + g.seq);
  $("about").textContent = parts.join(" · ");
  $("key-form").hidden = !g.key_required;
  if (!g.ready) setStatus("name server not reached" + (g.error ? ": " + g.error : ""), "bad");
  else if (events && events.readyState === EventSource.OPEN) setStatus("live", "ok");
}

function showNames(names) {
  const body = $("names");
  body.replaceChildren();
  const list = $("name-list");
  list.replaceChildren();
  for (const entry of names) {
    const row = el("tr");
    row.dataset.name = entry.name;
    const cell = el("td");
    const link = el("a", entry.name);
    link.href = "#";
    link.addEventListener("click", (ev) => { ev.preventDefault(); choose(entry.name); });
    cell.append(link);
    row.append(cell, el("td", entry.uri, "uri"), el("td", entry.metadata.join(", ")));
    body.append(row);
    const option = el("option");
    option.value = entry.name;
    list.append(option);
  }
  $("names-count").textContent = "(" + names.length + ")";
  $("names-empty").hidden = names.length > 0;
}

function showPools(pools, error) {
  $("pools-error").hidden = !error;
  $("pools-error").textContent = error ? "pools unavailable: " + error : "";
  const body = $("pools");
  body.replaceChildren();
  const names = pools ? Object.keys(pools).sort() : [];
  for (const name of names) {
    const pool = pools[name];
    const row = el("tr");
    row.dataset.pool = name;
    const daemons = el("td", null, "daemons");
    for (const d of pool.daemons) {
      daemons.append(el("div", "pid " + d.pid + " · " + d.inflight + " of " + d.capacity +
                        " busy · heard " + d.silent.toFixed(1) + " s ago"));
    }
    row.append(el("td", name), el("td", pool.free + " / " + pool.capacity, "free"),
               el("td", pool.queued), daemons);
    body.append(row);
  }
  $("pools-count").textContent = "(" + names.length + ")";
  $("pools-empty").hidden = names.length > 0;
}

// -- the live feed ------------------------------------------------------------------------------

function listen() {
  if (events) events.close();
  const url = "console/events" + (key ? "?$key=" + encodeURIComponent(key) : "");
  events = new EventSource(url);
  events.addEventListener("open", () => { setStatus("live", "ok"); refresh(); });
  events.addEventListener("error", () => setStatus("event stream lost; reconnecting", "bad"));
  events.addEventListener("hello", () => refresh());
  events.addEventListener("resync", () => { feedLine("resync", {}); refresh(); });
  for (const kind of ["name.registered", "name.removed", "daemon.joined", "daemon.left"]) {
    events.addEventListener(kind, (ev) => {
      feedLine(kind, JSON.parse(ev.data));
      refreshSoon();
    });
  }
  events.addEventListener("broker.alive", () => {
    lastBeat = Date.now();
    $("alive").className = "alive beat";
  });
}

function feedLine(kind, body) {
  const when = body.time ? new Date(body.time * 1000) : new Date();
  const detail = Object.assign({}, body);
  for (const k of ["kind", "epoch", "seq", "time"]) delete detail[k];
  const line = el("li");
  line.dataset.kind = kind;
  line.append(el("time", when.toLocaleTimeString()), el("b", kind),
              el("span", JSON.stringify(detail)));
  const feed = $("feed");
  feed.prepend(line);
  while (feed.children.length > FEED_LINES) feed.lastChild.remove();
}

function refreshSoon() {
  if (refreshTimer === null) {
    refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 150);
  }
}

function setStatus(text, how) {
  const status = $("status");
  status.textContent = text;
  status.className = "status " + (how || "");
}

// -- the call form ------------------------------------------------------------------------------

async function choose(name) {
  $("call-name").value = name;
  const select = $("call-method");
  select.replaceChildren();
  let info;
  try {
    info = await meta(name);
  } catch (err) {
    showResult("error", String(err));
    return;
  }
  for (const method of info.methods) {
    const option = el("option", method + (info.oneway.includes(method) ? " (oneway)" : ""));
    option.value = method;
    select.append(option);
  }
  for (const attr of info.attributes) {
    if (info.methods.includes(attr)) continue;
    const option = el("option", attr + " (property)");
    option.value = attr;
    select.append(option);
  }
}

async function submitCall(ev) {
  ev.preventDefault();
  let args, kwargs;
  try {
    args = JSON.parse($("call-args").value || "[]");
    kwargs = JSON.parse($("call-kwargs").value || "{}");
  } catch (err) {
    showResult("error", "arguments are not JSON: " + err.message);
    return;
  }
  const name = $("call-name").value;
  const method = $("call-method").value;
  const lines = [];
  showResult("busy", "calling " + name + "." + method + " ...");
  try {
    const out = await call(name, method, args, kwargs, {
      oneway: $("call-oneway").checked,
      onLine: (item) => { lines.push(item); $("call-result").textContent = lines.map((x) => JSON.stringify(x)).join("\n"); },
    });
    const head = out.status + " · correlation id " + out.correlationId;
    const text = Array.isArray(out.body) && lines.length ? lines.map((x) => JSON.stringify(x)).join("\n")
      : (out.body === null && out.status === 200 ? "(no result: oneway)" : JSON.stringify(out.body, null, 2));
    showResult(out.status === 200 ? "ok" : "bad", head, text);
  } catch (err) {
    showResult("bad", "call failed: " + err);
  }
}

function showResult(how, head, text) {
  $("call-status").textContent = head;
  $("call-status").className = "call-status " + how;
  $("call-result").textContent = text === undefined ? "" : text;
}

// -- start --------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("call-form").addEventListener("submit", submitCall);
  $("call-name").addEventListener("change", () => choose($("call-name").value));
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    key = $("key").value;
    sessionStorage.setItem("zpyro-gateway-key", key);
    listen();
    refresh();
  });
  listen();
  refresh();
  setInterval(() => {
    if (!document.hidden) refresh();
    $("alive").className = Date.now() - lastBeat > STALE_BEAT_MS ? "alive silent" : "alive beat";
  }, REFRESH_MS);
});
