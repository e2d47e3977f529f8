//! `GET /`: a human-readable reference of every route.

use http::{Response, StatusCode};

use super::body::DriftBody;
use super::response;

/// Route name and help text, sorted by route name as the original page was.
const ROUTES: &[(&str, &str)] = &[
    ("DELETE /v1/auth/cookie", "Remove the drift_token cookie."),
    (
        "DELETE /v1/t/*",
        "Delete a topic and close all subscriptions to the topic.",
    ),
    ("GET /", "API Reference"),
    (
        "GET /console",
        "The web console: topics, live messages, history, publish, create and delete. Served on \
         loopback by default (--console auto|on|off); 404 when off.",
    ),
    ("GET /healthz", "200 while the process serves."),
    (
        "GET /v1/topics",
        "Every topic as JSON: name, epoch, lastSeq, retained messages and bytes, subscribers, config.",
    ),
    (
        "GET /v1/topics/*",
        "One topic as JSON (as in GET /v1/topics), or 404.",
    ),
    ("GET /ping", "Ping the server, get a pong response."),
    (
        "GET /readyz",
        "200 when the server can take publishes (not shutting down, its store answers, a probe \
         message reaches a local subscriber within 2 s), else 503; one line says why.",
    ),
    ("GET /v1/", "API Reference"),
    (
        "GET /v1/t/*",
        "Subscribe to a topic. Accept: text/event-stream for SSE, application/vnd.drift.frames for Drift frames, \
         anything else for raw. History: X-History-Length, X-History-Since, Last-Event-ID (or ?history=, ?since=, ?after=).",
    ),
    (
        "GET /v1/time",
        "Print the current server time as a UNIX seconds-since-epoch",
    ),
    ("HEAD /v1/t/*", "Check whether a topic exists."),
    (
        "POST /v1/auth/cookie",
        "With Authorization: Bearer TOKEN, set the drift_token cookie (HttpOnly; Secure) to it, for EventSource.",
    ),
    (
        "POST /v1/t/*",
        "Publish a message to a topic (the body is the message; with Content-Type application/vnd.drift.frames, \
         every message frame in the body).",
    ),
    (
        "PUT /v1/t/*",
        "Create a new topic. Optional JSON body: {\"history\": bool, \"historyLength\": n, \"maxAge\": seconds, \"maxBytes\": n}.",
    ),
];

pub(crate) fn page() -> Response<DriftBody> {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>API Reference</title></head>\n<body>\n\
         <h1>Drift API Reference</h1>\n<p>Protocol: docs/PROTOCOL.md in the Drift repository.</p>\n<dl>\n",
    );
    for (route, help) in ROUTES {
        html.push_str(&format!(
            "<dt>{}</dt>\n<dd>{}</dd>\n",
            escape(route),
            escape(help)
        ));
    }
    html.push_str("</dl>\n</body></html>\n");
    response::text(StatusCode::OK, html, "text/html")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
