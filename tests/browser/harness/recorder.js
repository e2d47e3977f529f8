// Records what EventSource streams deliver, in the form the tests read back
// with execute_script: recorder.streams[name] = {events, opens, errors}.
// Payloads are kept as arrays of byte values, so a test compares them
// byte-exact with what it published (text is UTF-8-encoded again, base64
// events decoded).
"use strict";

window.recorder = {
  streams: {},
  sources: {},

  // Opens an EventSource on `url`. With closeOnEnd, the page closes it on
  // the `end` event, as a page must after `deleted`: otherwise EventSource
  // reconnects and its subscription re-creates the topic.
  open(name, url, { withCredentials = false, closeOnEnd = true } = {}) {
    const rec = { events: [], opens: 0, errors: 0 };
    const es = new EventSource(url, { withCredentials });
    const push = (event) => rec.events.push(event);
    es.onopen = () => rec.opens++;
    es.onerror = () => rec.errors++;
    es.onmessage = (e) =>
      push({ type: "message", id: e.lastEventId, bytes: Array.from(new TextEncoder().encode(e.data)) });
    es.addEventListener("base64", (e) =>
      push({ type: "base64", id: e.lastEventId, bytes: Array.from(atob(e.data), (c) => c.charCodeAt(0)) }));
    es.addEventListener("gap", (e) => push({ type: "gap", id: e.lastEventId, gap: JSON.parse(e.data) }));
    es.addEventListener("end", (e) => {
      push({ type: "end", id: e.lastEventId, reason: e.data });
      if (closeOnEnd) es.close();
    });
    this.streams[name] = rec;
    this.sources[name] = es;
  },

  // The stream's record with its EventSource's readyState (0 connecting,
  // 1 open, 2 closed).
  state(name) {
    return { ...this.streams[name], readyState: this.sources[name].readyState };
  },
};
