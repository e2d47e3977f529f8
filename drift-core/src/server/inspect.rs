//! `GET /v1/topics` and `GET /v1/topics/{topic}`: what the server holds, as
//! JSON, for operators and for looking at a topic without writing code.

use http::{Response, StatusCode};
use serde_json::{Value, json};

use super::body::DriftBody;
use super::context::Context;
use super::response;
use crate::broker::{Access, TopicInfo};

/// Every topic `access` may inspect, by name.
pub(crate) fn list(cx: &Context, access: &Access<'_>) -> Response<DriftBody> {
    let topics: Vec<Value> = match cx.broker.topics(access) {
        Ok(topics) => topics.iter().map(to_json).collect(),
        Err(e) => return response::from_error(&e),
    };
    json_response(&json!({ "topics": topics }))
}

/// One topic, or 404.
pub(crate) async fn one(
    cx: Context,
    topic: String,
    credentials: Option<String>,
) -> Response<DriftBody> {
    let access = cx.access(credentials.as_deref());
    match cx.broker.inspect(&topic, &access).await {
        Ok(Some(info)) => json_response(&to_json(&info)),
        Ok(None) => response::error(StatusCode::NOT_FOUND, &format!("no topic named {topic:?}")),
        Err(e) => response::from_error(&e),
    }
}

fn to_json(t: &TopicInfo) -> Value {
    let r = &t.config.retention;
    json!({
        "name": t.name,
        "epoch": t.epoch,
        "lastSeq": t.last_seq,
        "retained": { "messages": t.history_len, "bytes": t.history_bytes },
        "subscribers": t.subscribers,
        "queued": { "messages": t.queued_len, "bytes": t.queued_bytes },
        "config": {
            "history": t.config.history,
            "historyLength": r.max_messages,
            "maxAge": r.max_age.map(|d| d.as_secs()),
            "maxBytes": r.max_bytes,
        },
    })
}

fn json_response(value: &Value) -> Response<DriftBody> {
    let mut body = value.to_string();
    body.push('\n');
    response::text(StatusCode::OK, body, "application/json")
}
