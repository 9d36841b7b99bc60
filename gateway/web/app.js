// Staylock live availability dashboard: plain JavaScript, no build step.
// The API key lives in sessionStorage only; the WebSocket authenticates with
// one-use tokens from POST /v1/stream-tokens.
"use strict";

const KEY_STORE = "staylock.apiKey";
const FEED_MAX = 50;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30000;

const $ = (id) => document.getElementById(id);

const state = {
  key: sessionStorage.getItem(KEY_STORE) || "",
  property: "",
  from: "",
  to: "",
  ws: null,
  attempt: 0,
  retryTimer: 0,
  seq: {},      // room type → last seq seen
  nights: {},   // room type → date → night
  roomTypes: [],
  dates: [],
  subscribed: false,
};

// ---------------------------------------------------------------- dates
function isoDate(d) { return d.toISOString().slice(0, 10); }
function addDays(iso, n) {
  const d = new Date(iso + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() + n);
  return isoDate(d);
}
function dateRange(from, to) {
  const out = [];
  for (let d = from; d < to; d = addDays(d, 1)) out.push(d);
  return out;
}
const DOW = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

// ------------------------------------------------------------------ API
async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: { "Authorization": "Bearer " + state.key, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!res.ok) {
    const err = new Error((data && data.error && data.error.message) || ("HTTP " + res.status));
    err.status = res.status;
    throw err;
  }
  return data;
}

// ------------------------------------------------------------ connection
function setConn(s, text) {
  const el = $("conn-state");
  el.dataset.state = s;
  el.textContent = text || s;
}

function backoffDelay(attempt) {
  // exponential, capped, with full jitter over its upper half
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, attempt));
  return Math.round(cap / 2 + Math.random() * cap / 2);
}

function scheduleReconnect(reason) {
  clearTimeout(state.retryTimer);
  if (!state.key) return;
  const delay = backoffDelay(state.attempt++);
  setConn("reconnecting", "reconnecting in " + Math.ceil(delay / 1000) + " s" + (reason ? " (" + reason + ")" : ""));
  state.retryTimer = setTimeout(connect, delay);
}

async function connect() {
  clearTimeout(state.retryTimer);
  closeSocket();
  if (!state.key) return;
  setConn("connecting", "connecting…");
  let token;
  try {
    token = (await api("POST", "/v1/stream-tokens", {})).token;
  } catch (e) {
    if (e.status === 401) { signOut("Your API key was refused: " + e.message); return; }
    scheduleReconnect(e.message);
    return;
  }
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(proto + "//" + location.host + "/v1/stream?token=" + encodeURIComponent(token));
  state.ws = ws;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    state.attempt = 0;
    setConn("live", "live");
    subscribe();
  };
  ws.onmessage = (ev) => {
    if (ws !== state.ws) return;
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    onMessage(msg);
  };
  ws.onclose = (ev) => {
    if (ws !== state.ws) return;
    state.ws = null;
    state.subscribed = false;
    let reason = ev.code === 1013 ? "too slow" : ev.code === 1001 ? "server restarting" : "";
    if (!opened && state.attempt >= 2) reason = "refused: is this page's origin in CORS_ALLOWED_ORIGINS?";
    scheduleReconnect(reason);
  };
}

function closeSocket() {
  if (state.ws) {
    const ws = state.ws;
    state.ws = null;
    ws.onclose = null;
    ws.close(1000);
  }
}

function subscribe() {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN || !state.property) return;
  state.subscribed = false;
  state.ws.send(JSON.stringify({ type: "subscribe", property: state.property, from: state.from, to: state.to }));
}

function onMessage(msg) {
  if (msg.property && msg.property !== state.property) return;
  switch (msg.type) {
    case "snapshot":
      state.subscribed = true;
      setConn("live", "live");
      $("board-error").hidden = true;
      state.roomTypes = msg.room_types.map((r) => r.room_type);
      state.seq = {};
      state.nights = {};
      for (const rt of msg.room_types) {
        state.seq[rt.room_type] = rt.seq;
        state.nights[rt.room_type] = {};
        for (const n of rt.nights) state.nights[rt.room_type][n.date] = n;
      }
      renderGrid();
      addFeed("snapshot", "Snapshot of " + msg.property + ": " + msg.room_types.length + " room type(s)");
      break;
    case "delta":
      onDelta(msg);
      break;
    case "error":
      showBoardError(msg.error.message);
      break;
  }
}

function onDelta(msg) {
  if (!state.subscribed) return; // a new snapshot is on its way: it replaces everything
  const rt = msg.room_type;
  const last = state.seq[rt] === undefined ? 0 : state.seq[rt];
  if (msg.prev_seq !== last) {
    // A gap: something was missed. Read everything again.
    setConn("resyncing", "resyncing (missed " + last + "→" + msg.prev_seq + ")");
    addFeed("gap", rt + ": missed changes " + last + "→" + msg.prev_seq + ", resubscribing");
    subscribe();
    return;
  }
  state.seq[rt] = msg.seq;
  if (!state.nights[rt]) {
    state.nights[rt] = {};
    state.roomTypes.push(rt);
    renderGrid();
  }
  const changes = [];
  for (const n of msg.nights) {
    const old = state.nights[rt][n.date];
    state.nights[rt][n.date] = n;
    updateCell(rt, n, true);
    if (old && old.available !== n.available) changes.push([n.date, old.available, n.available]);
  }
  const seqText = msg.seq - msg.prev_seq > 1 ? " (" + (msg.seq - msg.prev_seq) + " changes)" : "";
  let text = rt + " seq " + msg.seq + seqText + ": ";
  if (changes.length) {
    const first = changes[0], lastc = changes[changes.length - 1];
    const span = first[0] === lastc[0] ? first[0] : first[0] + " … " + lastc[0];
    const dir = first[2] < first[1] ? "down" : "up";
    text += span + " available " + first[1] + "→" + first[2];
    addFeed(dir, text);
  } else {
    addFeed("", text + msg.nights.length + " night(s) updated");
  }
  const head = $("seq-" + rt);
  if (head) head.textContent = "seq " + msg.seq;
}

// --------------------------------------------------------------- render
function cellId(rt, date) { return "cell-" + rt + "-" + date; }

function renderGrid() {
  const thead = $("grid").tHead, tbody = $("grid").tBodies[0];
  thead.replaceChildren();
  tbody.replaceChildren();
  const hr = thead.insertRow();
  const corner = document.createElement("th");
  corner.textContent = "Room type";
  hr.appendChild(corner);
  for (const d of state.dates) {
    const th = document.createElement("th");
    const dow = document.createElement("span");
    dow.className = "dow";
    dow.textContent = DOW[new Date(d + "T00:00:00Z").getUTCDay()];
    th.append(d.slice(5), dow);
    hr.appendChild(th);
  }
  for (const rt of state.roomTypes) {
    const tr = tbody.insertRow();
    const th = document.createElement("th");
    th.scope = "row";
    const seq = document.createElement("span");
    seq.className = "seq";
    seq.id = "seq-" + rt;
    seq.textContent = "seq " + (state.seq[rt] || 0);
    th.append(rt, seq);
    tr.appendChild(th);
    for (const d of state.dates) {
      const td = tr.insertCell();
      td.id = cellId(rt, d);
      td.className = "cell";
      const a = document.createElement("span");
      a.className = "avail";
      const bh = document.createElement("span");
      bh.className = "bh";
      td.append(a, bh);
      const n = state.nights[rt] && state.nights[rt][d];
      if (n) updateCell(rt, n, false);
    }
  }
  if (state.roomTypes.length === 0) {
    const tr = tbody.insertRow();
    const td = tr.insertCell();
    td.colSpan = state.dates.length + 1;
    td.textContent = "No room types in this property yet.";
  }
}

function updateCell(rt, n, flash) {
  const td = $(cellId(rt, n.date));
  if (!td) return;
  const taken = n.booked + n.held;
  const occ = n.total > 0 ? Math.min(10, Math.round(10 * taken / n.total)) : 10;
  td.className = "cell " + (n.stop_sell ? "stop" : "occ-" + occ);
  td.dataset.available = n.available;
  td.dataset.booked = n.booked;
  td.dataset.held = n.held;
  td.title = n.date + " · " + rt + ": " + n.available + " available of " + n.total +
    " (" + n.booked + " booked, " + n.held + " held)" + (n.stop_sell ? " · stop-sell" : "");
  td.children[0].textContent = n.available;
  td.children[1].textContent = n.booked + " · " + n.held;
  if (flash) {
    td.classList.remove("flash");
    void td.offsetWidth; // restart the animation
    td.classList.add("flash");
  }
}

function addFeed(kind, text) {
  const li = document.createElement("li");
  const t = document.createElement("time");
  t.textContent = new Date().toLocaleTimeString();
  const s = document.createElement("span");
  s.className = kind;
  s.textContent = text;
  li.append(t, s);
  const feed = $("feed");
  feed.prepend(li);
  while (feed.children.length > FEED_MAX) feed.lastChild.remove();
}

function showBoardError(text) {
  const el = $("board-error");
  el.textContent = text;
  el.hidden = false;
}

// ------------------------------------------------------------- controls
function readRange() {
  const nights = parseInt($("nights").value, 10);
  state.from = $("from").value || isoDate(new Date());
  state.to = addDays(state.from, nights);
  state.dates = dateRange(state.from, state.to);
}

function onRangeChange() {
  state.property = $("property").value;
  readRange();
  state.roomTypes = [];
  state.nights = {};
  state.seq = {};
  renderGrid();
  $("feed").replaceChildren();
  subscribe();
}

async function signIn(key) {
  state.key = key;
  const err = $("sign-in-error");
  err.hidden = true;
  let props;
  try {
    props = (await api("GET", "/v1/properties")).properties || [];
  } catch (e) {
    state.key = "";
    sessionStorage.removeItem(KEY_STORE);
    err.textContent = e.status === 401 ? "That API key was refused." : "Could not sign in: " + e.message;
    err.hidden = false;
    return;
  }
  sessionStorage.setItem(KEY_STORE, key);
  $("api-key").value = "";
  const sel = $("property");
  sel.replaceChildren();
  for (const p of props) {
    const o = document.createElement("option");
    o.value = p.id;
    o.textContent = p.name + " (" + p.id + ")";
    sel.appendChild(o);
  }
  $("sign-in").hidden = true;
  $("board").hidden = false;
  $("sign-out").hidden = false;
  if (props.length === 0) showBoardError("This tenant has no properties yet.");
  state.property = sel.value;
  readRange();
  renderGrid();
  connect();
}

function signOut(message) {
  clearTimeout(state.retryTimer);
  closeSocket();
  state.key = "";
  sessionStorage.removeItem(KEY_STORE);
  $("board").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  setConn("offline", "offline");
  const err = $("sign-in-error");
  err.hidden = !message;
  err.textContent = message || "";
}

// ----------------------------------------------------------- maintenance
// /health is outside the maintenance gate: it says whether `staylock down`
// is in force, and the banner follows it.
const MAINTENANCE_POLL_MS = 5000;

async function checkMaintenance() {
  try {
    const res = await fetch("/health", { cache: "no-store" });
    const data = await res.json();
    showMaintenance(data && data.maintenance);
  } catch (e) { /* the server is away: the connection state says so */ }
}

function showMaintenance(m) {
  const el = $("maintenance");
  if (!m || !m.on) { el.hidden = true; el.textContent = ""; return; }
  el.textContent = "Maintenance: " + (m.message || "the API is down for maintenance") +
    " (retry in " + m.retry_after + " s). Availability shown may be stale.";
  el.hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  checkMaintenance();
  setInterval(checkMaintenance, MAINTENANCE_POLL_MS);
  $("from").value = isoDate(new Date());
  $("sign-in-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = $("api-key").value.trim();
    if (key) signIn(key);
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  $("property").addEventListener("change", onRangeChange);
  $("from").addEventListener("change", onRangeChange);
  $("nights").addEventListener("change", onRangeChange);
  $("controls").addEventListener("submit", (ev) => ev.preventDefault());
  window.addEventListener("online", () => { if (state.key && !state.ws) connect(); });
  if (state.key) signIn(state.key);
});
