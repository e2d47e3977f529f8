// Drift console: the topic list (polled), one topic watched with an
// EventSource, publishing, creating and deleting topics. It uses only the
// public API (docs/PROTOCOL.md) on its own origin, so fetch and
// EventSource carry the drift_token cookie when the server asks for one.
"use strict";

const POLL_MS = 1000;
const MAX_EVENTS = 500;

const $ = (selector) => document.querySelector(selector);

const state = {
  // name -> {lastSeq, epoch, at}: the previous poll, for the rate.
  previous: new Map(),
  // name -> topic object of the last poll.
  topics: new Map(),
  // The topic shown below the list, and its stream.
  open: null,
  source: null,
  lastId: "",
};

// ===== requests =====

/** The path of a topic: `/v1/t/NAME` (one segment, percent-encoded). */
function topicPath(name, query = "") {
  return "/v1/t/" + encodeURIComponent(name) + query;
}

/** fetch, resolving to the answer when it is a success, else rejecting
 * with the status and the server's one-line reason. */
async function request(method, path, { body, headers, signal } = {}) {
  let res;
  try {
    res = await fetch(path, { method, body, headers, signal, credentials: "same-origin", cache: "no-store" });
  } catch (e) {
    throw new Error(`${method} ${path}: ${e.message}`);
  }
  if (!res.ok) {
    const reason = (await res.text()).trim() || res.statusText;
    const error = new Error(`${res.status} ${reason}`);
    error.status = res.status;
    throw error;
  }
  return res;
}

/** Shows `text` in the status element `el`, as success or error. */
function say(el, text, kind = "") {
  el.textContent = text;
  el.className = "status" + (kind ? " " + kind : "");
}

// ===== the topic list =====

async function poll() {
  try {
    const res = await request("GET", "/v1/topics");
    const { topics } = await res.json();
    render(topics, performance.now());
    say($("#server-status"), `connected: ${topics.length} topic${topics.length === 1 ? "" : "s"}`, "ok");
    say($("#topics-status"), topics.length ? "" : "No topics yet: create one, or publish to a name.");
  } catch (e) {
    say($("#server-status"), "not connected", "error");
    say($("#topics-status"), e.message, "error");
  }
  setTimeout(poll, POLL_MS);
}

/** Updates the table in place (rows keyed by name), so that a row being
 * clicked is never replaced under the pointer. */
function render(topics, now) {
  const body = $("#topic-list tbody");
  const rows = new Map(Array.from(body.rows, (tr) => [tr.dataset.topic, tr]));
  const seen = new Set();
  topics.forEach((t, i) => {
    seen.add(t.name);
    const tr = rows.get(t.name) ?? newRow(t.name);
    // The server's order (by name); a row already in place is not moved.
    if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] ?? null);
    const prev = state.previous.get(t.name);
    let rate = "";
    if (prev && prev.epoch === t.epoch && now > prev.at) {
      rate = ((t.lastSeq - prev.lastSeq) / ((now - prev.at) / 1000)).toFixed(1);
    }
    state.previous.set(t.name, { lastSeq: t.lastSeq, epoch: t.epoch, at: now });
    state.topics.set(t.name, t);
    const cells = [t.epoch, t.lastSeq, t.retained.messages, t.retained.bytes, t.subscribers, rate];
    cells.forEach((value, column) => {
      tr.cells[column + 1].textContent = String(value);
    });
    tr.classList.toggle("selected", t.name === state.open);
  });
  for (const [name, tr] of rows) {
    if (!seen.has(name)) {
      tr.remove();
      state.previous.delete(name);
      state.topics.delete(name);
    }
  }
}

function newRow(name) {
  const tr = document.createElement("tr");
  tr.dataset.topic = name;
  const open = button(name, "open", () => openTopic(name));
  open.title = "Watch this topic";
  const del = button("Delete", "delete", () => deleteTopic(name));
  const cell = (child, cls) => {
    const td = tr.insertCell();
    if (cls) td.className = cls;
    if (child) td.appendChild(child);
  };
  cell(open);
  cell(null);
  for (let i = 0; i < 5; i++) cell(null, "num");
  cell(del);
  return tr;
}

function button(text, cls, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = text;
  b.addEventListener("click", onclick);
  return b;
}

// ===== create and delete =====

async function createTopic(event) {
  event.preventDefault();
  const name = $("#create-name").value.trim();
  const config = $("#create-config").value.trim();
  const status = $("#create-status");
  try {
    const res = await request("PUT", topicPath(name), {
      body: config,
      headers: config ? { "Content-Type": "application/json" } : {},
    });
    const epoch = res.headers.get("Drift-Epoch");
    const what = res.status === 201 ? "created" : "exists with this configuration:";
    say(status, `topic ${name} ${what} (epoch ${epoch})`, "ok");
  } catch (e) {
    say(status, e.message, "error");
  }
}

async function deleteTopic(name) {
  const topic = state.topics.get(name);
  const held = topic ? ` and its ${topic.retained.messages} retained messages` : "";
  if (!confirm(`Delete topic ${name}${held}? Its subscribers are ended (deleted).`)) {
    return;
  }
  const status = $("#topics-status");
  try {
    await request("DELETE", topicPath(name));
    say(status, `deleted topic ${name}`, "ok");
  } catch (e) {
    say(status, e.message, "error");
  }
}

// ===== one topic: watch and publish =====

function openTopic(name) {
  stopWatching();
  state.open = name;
  state.lastId = "";
  $("#topic").hidden = false;
  $("#topic-name").textContent = name;
  $("#events").replaceChildren();
  say($("#publish-status"), "");
  for (const tr of $("#topic-list tbody").rows) {
    tr.classList.toggle("selected", tr.dataset.topic === name);
  }
  watch("live");
}

/** Opens the stream: `live` (what is published from now on), `history`
 * (every retained message of this epoch: after its seq 0, so messages no
 * longer retained show as a gap) or `resume` (after the last id shown). */
function watch(mode) {
  stopWatching();
  const name = state.open;
  let query = "";
  let what = "live";
  if (mode === "history") {
    const topic = state.topics.get(name);
    query = topic ? `?after=${topic.epoch}-0` : "?history=1000000";
    what = "from the start";
  } else if (mode === "resume" && state.lastId) {
    query = "?after=" + encodeURIComponent(state.lastId);
    what = `after ${state.lastId}`;
  }
  const url = topicPath(name, query);
  note(`watching ${what}`);
  const es = new EventSource(url);
  state.source = es;
  say($("#watch-status"), "connecting…");
  $("#watch-stop").disabled = false;
  es.onopen = () => {
    if (es === state.source) say($("#watch-status"), `watching ${what}`, "ok");
  };
  es.onerror = () => {
    if (es !== state.source) return;
    if (es.readyState === EventSource.CLOSED) {
      refused(url);
    } else {
      say($("#watch-status"), "reconnecting (resumes after the last id)…");
    }
  };
  es.onmessage = (e) => shown(e, "message", e.data);
  es.addEventListener("base64", (e) => shown(e, "base64", e.data));
  es.addEventListener("gap", (e) => {
    const gap = JSON.parse(e.data);
    const text =
      gap.reason === "epoch"
        ? "gap (epoch): the topic is another incarnation; what followed the id is unknown"
        : `gap (${gap.reason}): messages ${gap.from}–${gap.to} not delivered`;
    add("gap", "", text);
  });
  es.addEventListener("end", (e) => {
    add("end", "", `end: ${e.data}`);
    // EventSource reconnects after every end. After `deleted` that would
    // subscribe again and so re-create the topic; after `unauthorized` it
    // needs a new token. Both are final here. The others (shutdown, slow
    // consumer, reset) resume by id, as the protocol says clients do.
    if (e.data === "deleted" || e.data === "unauthorized") {
      stopWatching(`closed: ${e.data}`);
    }
  });
}

/** EventSource gave up (an error answer): ask once more with fetch, which
 * can read the status and reason, and say them. */
async function refused(url) {
  stopWatching("refused");
  const abort = new AbortController();
  try {
    await request("GET", url, { headers: { Accept: "text/event-stream" }, signal: abort.signal });
    say($("#watch-status"), "the stream closed", "error");
  } catch (e) {
    say($("#watch-status"), e.message, "error");
    add("end", "", `refused: ${e.message}`);
  } finally {
    abort.abort();
  }
}

function stopWatching(why = "") {
  if (state.source) {
    state.source.close();
    state.source = null;
    if (why) say($("#watch-status"), why, why.startsWith("closed") ? "error" : "");
    else say($("#watch-status"), "stopped");
  }
  $("#watch-stop").disabled = true;
  $("#watch-resume").disabled = !state.lastId;
}

function shown(e, kind, data) {
  state.lastId = e.lastEventId;
  add(kind, e.lastEventId, data);
}

function note(text) {
  add("note", "", text);
}

/** Appends one event; the oldest go past MAX_EVENTS. The time is when
 * the page received it (SSE does not carry the publish time). */
function add(kind, id, text) {
  const list = $("#events");
  const li = document.createElement("li");
  li.dataset.kind = kind;
  li.dataset.id = id;
  const part = (cls, value) => {
    const span = document.createElement("span");
    span.className = cls;
    span.textContent = value;
    li.appendChild(span);
  };
  part("id", id);
  part("time", new Date().toLocaleTimeString([], { hour12: false }));
  part("payload", text);
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.appendChild(li);
  while (list.children.length > MAX_EVENTS) list.firstElementChild.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

async function publish(event) {
  event.preventDefault();
  const status = $("#publish-status");
  try {
    const res = await request("POST", topicPath(state.open), { body: $("#publish-body").value });
    say(status, `published ${res.headers.get("Drift-Id")}`, "ok");
  } catch (e) {
    say(status, e.message, "error");
  }
}

// ===== sign in (servers that authenticate) =====

async function signIn(event) {
  event.preventDefault();
  const status = $("#auth-status");
  try {
    const res = await request("POST", "/v1/auth/cookie", {
      headers: { Authorization: "Bearer " + $("#token").value.trim() },
    });
    const { subject, expires } = await res.json();
    const until = expires ? ` until ${new Date(expires * 1000).toLocaleString()}` : "";
    say(status, `signed in as ${subject ?? "(no subject)"}${until}`, "ok");
    $("#token").value = "";
    if (state.open) watch("resume");
  } catch (e) {
    say(status, e.message, "error");
  }
}

async function signOut() {
  const status = $("#auth-status");
  try {
    await request("DELETE", "/v1/auth/cookie");
    say(status, "signed out");
    stopWatching();
  } catch (e) {
    say(status, e.message, "error");
  }
}

// ===== start =====

function start() {
  $("#auth").hidden = document.body.dataset.auth !== "token";
  $("#auth-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  $("#create-form").addEventListener("submit", createTopic);
  $("#publish-form").addEventListener("submit", publish);
  $("#watch-live").addEventListener("click", () => watch("live"));
  $("#watch-history").addEventListener("click", () => watch("history"));
  $("#watch-resume").addEventListener("click", () => watch("resume"));
  $("#watch-stop").addEventListener("click", () => stopWatching());
  $("#events-clear").addEventListener("click", () => $("#events").replaceChildren());
  poll();
}

start();
