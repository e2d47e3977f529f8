//! This node's pub/sub connection to Redis: it listens on the notice
//! channel of every topic a local subscriber reads (and only those), and
//! on the channel of deletions, and turns what it hears into the store's
//! [`Notice`]s, in seq order per topic with no seq left out.
//!
//! Redis pub/sub loses messages only with the connection (a reconnect, or
//! a client output buffer over its limit, which also disconnects). So a
//! seq that jumps means notices were lost, and after every reconnect each
//! watched topic is checked against its log: what was missed is read back
//! from the log, what the log no longer has is a [`Notice::Missed`] (a gap
//! for subscribers), an incarnation that is gone or was replaced ends, and
//! a log that holds fewer seqs than this node saw (Redis came back with
//! older data) is reset to a new epoch.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::{mpsc, oneshot};

use super::client::{ReadOutcome, Redis};
use super::keys::{BatchNotice, DELETIONS, Ended, channel_of, topic_of_channel};
use crate::broker::store::{Appended, Notice, Selection};
use crate::error::{Error, ErrorKind, Result};

/// What the topics' logs ask of the watcher.
#[derive(Debug)]
pub(super) enum Command {
    /// A local subscriber joined incarnation `epoch` of `name`; `seen` is
    /// the newest seq this node knows of it. Answered with the log's
    /// newest seq once its notices flow.
    Watch {
        name: Arc<str>,
        epoch: u64,
        seen: u64,
        history: bool,
        reply: oneshot::Sender<Result<u64>>,
    },
    /// A local subscriber left.
    Unwatch { name: Arc<str>, epoch: u64 },
}

/// Whether the pub/sub connection answers a PING in time. In subscribed
/// mode Redis answers `["pong", ""]`, not `PONG`: any answer will do.
async fn answers(sink: &mut PubSubSink) -> bool {
    let answered = tokio::time::timeout(PING_TIMEOUT, sink.ping::<redis::Value>()).await;
    matches!(answered, Ok(Ok(_)))
}

/// A topic incarnation local subscribers read.
#[derive(Debug)]
struct Watched {
    epoch: u64,
    subscribers: usize,
    /// The next seq to hand on.
    next: u64,
    history: bool,
}

/// How often an idle connection is checked with a PING, and how long the
/// answer may take before the connection counts as lost.
const PING_EVERY: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Reconnection delays: doubled from the first up to the last.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

pub(super) struct Watcher {
    client: redis::Client,
    redis: Redis,
    commands: mpsc::UnboundedReceiver<Command>,
    notices: mpsc::UnboundedSender<Notice>,
    watched: HashMap<Arc<str>, Watched>,
}

/// Why a connection's loop ended.
enum Listened {
    /// The connection is lost: connect again.
    Lost,
    /// The store is gone: stop.
    Stop,
}

impl Watcher {
    pub(super) fn new(
        client: redis::Client,
        redis: Redis,
        commands: mpsc::UnboundedReceiver<Command>,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> Watcher {
        Watcher {
            client,
            redis,
            commands,
            notices,
            watched: HashMap::new(),
        }
    }

    /// Connects, listens, and connects again whenever the connection is
    /// lost, until the store is dropped.
    pub(super) async fn run(mut self) {
        let mut delay = RETRY_FIRST;
        let mut connected_before = false;
        loop {
            match self.connect().await {
                Ok((sink, stream)) => {
                    delay = RETRY_FIRST;
                    if connected_before {
                        tracing::info!(address = %self.redis.address, "reconnected to the Redis store");
                        if self.catch_up().await.is_err() {
                            continue;
                        }
                    }
                    connected_before = true;
                    if let Listened::Stop = self.listen(sink, stream).await {
                        return;
                    }
                    tracing::warn!(address = %self.redis.address, "lost the Redis store's pub/sub connection; reconnecting");
                }
                Err(e) => {
                    tracing::debug!(address = %self.redis.address, error = %e, "cannot reach the Redis store");
                    // Until it answers, new subscriptions are refused and
                    // leaving ones counted.
                    let sleep = tokio::time::sleep(delay);
                    tokio::pin!(sleep);
                    loop {
                        tokio::select! {
                            () = &mut sleep => break,
                            command = self.commands.recv() => match command {
                                None => return,
                                Some(c) => self.refuse(c, &e),
                            },
                        }
                    }
                    delay = (delay * 2).min(RETRY_MAX);
                }
            }
        }
    }

    async fn connect(&mut self) -> Result<(PubSubSink, PubSubStream)> {
        let pubsub = self
            .client
            .get_async_pubsub()
            .await
            .map_err(|e| self.redis.error(e))?;
        let (mut sink, stream) = pubsub.split();
        let mut channels: Vec<String> = self.watched.keys().map(|n| channel_of(n)).collect();
        channels.push(DELETIONS.to_owned());
        sink.subscribe(&channels)
            .await
            .map_err(|e| self.redis.error(e))?;
        Ok((sink, stream))
    }

    /// While disconnected: a watch cannot be promised, an unwatch counts.
    fn refuse(&mut self, command: Command, error: &Error) {
        match command {
            Command::Watch { reply, .. } => {
                let _ = reply.send(Err(Error::new(
                    ErrorKind::Storage,
                    error.message().to_owned(),
                )));
            }
            Command::Unwatch { name, epoch } => {
                self.unwatch(&name, epoch);
            }
        }
    }

    async fn listen(&mut self, mut sink: PubSubSink, mut stream: PubSubStream) -> Listened {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.reset();
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    None => return Listened::Lost,
                    Some(m) => {
                        let channel = m.get_channel_name().to_owned();
                        let payload: Bytes = m.get_payload().unwrap_or_default();
                        if self.heard(&channel, payload).await.is_err() {
                            return Listened::Lost;
                        }
                    }
                },
                command = self.commands.recv() => match command {
                    None => return Listened::Stop,
                    Some(Command::Watch { name, epoch, seen, history, reply }) => {
                        let answer = self.watch(&mut sink, name, epoch, seen, history).await;
                        let lost = answer.is_err();
                        let _ = reply.send(answer);
                        if lost {
                            return Listened::Lost;
                        }
                    }
                    Some(Command::Unwatch { name, epoch }) => {
                        if self.unwatch(&name, epoch) {
                            // Best effort: a notice still coming is ignored.
                            let _ = sink.unsubscribe(channel_of(&name)).await;
                        }
                    }
                },
                _ = ping.tick() => {
                    if !answers(&mut sink).await {
                        return Listened::Lost;
                    }
                }
            }
        }
    }

    /// Starts (or counts) a watch: the channel is listened to before the
    /// log's newest seq is read, so nothing after it can be missed.
    async fn watch(
        &mut self,
        sink: &mut PubSubSink,
        name: Arc<str>,
        epoch: u64,
        seen: u64,
        history: bool,
    ) -> Result<u64> {
        if let Some(w) = self.watched.get_mut(&name)
            && w.epoch == epoch
        {
            w.subscribers += 1;
            return Ok(w.next - 1);
        }
        sink.subscribe(channel_of(&name))
            .await
            .map_err(|e| self.redis.error(e))?;
        let (current, last_seq, _) = self.redis.head(&name).await?;
        self.watched.insert(
            name.clone(),
            Watched {
                epoch,
                subscribers: 1,
                next: last_seq + 1,
                history,
            },
        );
        if current != Some(epoch) {
            // Deleted or replaced since this node opened it: end it here.
            self.send(Notice::Reset { topic: name, epoch });
        } else if last_seq < seen {
            self.redis.reset(&name, epoch, seen).await?;
        }
        Ok(last_seq)
    }

    /// Counts a subscriber gone; true when the topic is no longer watched.
    fn unwatch(&mut self, name: &str, epoch: u64) -> bool {
        let Some(w) = self.watched.get_mut(name) else {
            return false;
        };
        if w.epoch != epoch {
            return false;
        }
        w.subscribers = w.subscribers.saturating_sub(1);
        if w.subscribers > 0 {
            return false;
        }
        self.watched.remove(name);
        true
    }

    /// One message from a channel. An error means the store cannot be
    /// read to repair a jump, and the connection starts over.
    async fn heard(&mut self, channel: &str, payload: Bytes) -> Result<()> {
        if channel == DELETIONS {
            match Ended::parse(&payload) {
                Some(Ended::Deleted { topic, epoch }) => {
                    self.send(Notice::Deleted { topic, epoch })
                }
                Some(Ended::Reset { topic, epoch }) => self.send(Notice::Reset { topic, epoch }),
                None => tracing::warn!("an unknown message on {DELETIONS}; ignored"),
            }
            return Ok(());
        }
        let Some(name) = topic_of_channel(channel) else {
            return Ok(());
        };
        let Some(batch) = BatchNotice::parse(payload) else {
            tracing::warn!(topic = name, "an unknown notice; ignored");
            return Ok(());
        };
        let Some((name, w)) = self.watched.get_key_value(name) else {
            return Ok(()); // no longer watched
        };
        if w.epoch != batch.epoch {
            return Ok(());
        }
        let (name, next) = (name.clone(), w.next);
        let first = batch.appended.first_seq;
        if first > next {
            // Notices were lost: read back what they said.
            self.repair(&name, first - 1).await?;
        }
        self.hand_on(&name, batch);
        Ok(())
    }

    /// Hands on the part of `batch` not handed on yet.
    fn hand_on(&mut self, name: &Arc<str>, batch: BatchNotice) {
        let Some(w) = self.watched.get_mut(name) else {
            return;
        };
        let first = batch.appended.first_seq;
        let end = first + batch.payloads.len() as u64;
        if end <= w.next || first > w.next {
            return;
        }
        let skip = (w.next - first) as usize;
        w.next = end;
        let epoch = w.epoch;
        self.send(Notice::Published {
            topic: name.clone(),
            epoch,
            appended: Appended {
                first_seq: first + skip as u64,
                time_us: batch.appended.time_us,
            },
            payloads: batch.payloads[skip..].to_vec(),
        });
    }

    /// Reads back from the log what `name`'s lost notices carried, up to
    /// seq `to` (or further: whatever the log has), and hands it on; what
    /// the log no longer has is handed on as missed.
    async fn repair(&mut self, name: &Arc<str>, to: u64) -> Result<()> {
        let Some(w) = self.watched.get(name) else {
            return Ok(());
        };
        let (epoch, next, history) = (w.epoch, w.next, w.history);
        if to < next {
            return Ok(());
        }
        let sel = Selection {
            after_seq: next - 1,
            since_us: None,
            last: None,
        };
        let (last_seq, messages) = if history {
            match self.redis.read(name, epoch, &sel).await? {
                ReadOutcome::Read { last_seq, messages } => (last_seq, messages),
                ReadOutcome::Gone | ReadOutcome::Replaced => {
                    self.send(Notice::Reset {
                        topic: name.clone(),
                        epoch,
                    });
                    return Ok(());
                }
            }
        } else {
            (to, Vec::new())
        };
        let mut expected = next;
        for (seq, time_us, payload) in messages {
            if seq > expected {
                self.send(Notice::Missed {
                    topic: name.clone(),
                    epoch,
                    from: expected,
                    to: seq - 1,
                });
            }
            self.hand_on(
                name,
                BatchNotice {
                    epoch,
                    appended: Appended {
                        first_seq: seq,
                        time_us,
                    },
                    payloads: vec![payload],
                },
            );
            expected = seq + 1;
        }
        let last = last_seq.max(to);
        if expected <= last {
            self.send(Notice::Missed {
                topic: name.clone(),
                epoch,
                from: expected,
                to: last,
            });
        }
        if let Some(w) = self.watched.get_mut(name) {
            w.next = w.next.max(last + 1);
        }
        Ok(())
    }

    /// After a reconnect: topics not watched may have missed deletions
    /// (the broker opens them again), and each watched one is checked
    /// against its log.
    async fn catch_up(&mut self) -> Result<()> {
        self.send(Notice::Resync);
        let names: Vec<Arc<str>> = self.watched.keys().cloned().collect();
        for name in names {
            let Some(w) = self.watched.get(&name) else {
                continue;
            };
            let (epoch, next) = (w.epoch, w.next);
            let (current, last_seq, _) = self.redis.head(&name).await?;
            if current != Some(epoch) {
                // Gone (deleted, or Redis restarted without it) or replaced.
                self.send(Notice::Reset {
                    topic: name.clone(),
                    epoch,
                });
            } else if last_seq + 1 < next {
                // Redis holds fewer seqs than were handed on here.
                self.redis.reset(&name, epoch, next - 1).await?;
                self.send(Notice::Reset {
                    topic: name.clone(),
                    epoch,
                });
            } else if last_seq >= next {
                self.repair(&name, last_seq).await?;
            }
        }
        Ok(())
    }

    fn send(&self, notice: Notice) {
        // The broker went away: nothing left to tell.
        let _ = self.notices.send(notice);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use super::*;

    /// A subscribed connection that answers its PING is alive: an earlier
    /// check wanted `PONG` and dropped every idle node's connection each
    /// time it pinged. Against a real redis-server (Debian's).
    #[tokio::test]
    async fn a_subscribed_connection_answers_its_ping() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no", "--logfile", ""])
            .stdout(Stdio::piped())
            .spawn()
            .expect("redis-server runs (Debian's redis-server)");
        let stdout = server.stdout.take().expect("its log");
        let mut lines = BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok);
        assert!(lines.any(|l| l.contains("Ready to accept connections")));
        std::thread::spawn(move || for _ in lines {});
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("a URL");
        let answered = tokio::time::timeout(Duration::from_secs(10), async {
            let (mut sink, _stream) = client.get_async_pubsub().await.expect("connect").split();
            sink.subscribe(DELETIONS).await.expect("subscribe");
            answers(&mut sink).await
        })
        .await;
        let _ = server.kill();
        let _ = server.wait();
        assert_eq!(answered.ok(), Some(true));
    }
}
