//! The fanout scenario, and the subscriber machinery the idle scenario
//! shares with it.

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use drift_core::Result;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use h2::client::SendRequest;
use hdrhistogram::Histogram;
use http::{Method, Request, Uri, header};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::latency_log::{Delivery, LatencyLog, Route};
use super::net::{Endpoint, TlsChoice, topic_uris};
use super::payload::{self, Sink, StreamParser};
use super::report::{self, Progress, Server, Summary, r1, r3};
use super::{BenchArgs, FramingArg, invalid, now_us, topic_names};

/// Phases the controller moves every task through.
pub(crate) const SETUP: u8 = 0;
/// Publisher 0 sends one warm-up message to every topic.
pub(crate) const WARMUP: u8 = 1;
pub(crate) const GO: u8 = 2;
pub(crate) const STOP: u8 = 3;

/// How often the controller checks whether the measured phase is over (also
/// when it is not woken for it) and shows progress.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(100);

/// The publisher id of warm-up messages (never counted).
const WARMUP_PUBLISHER: u16 = u16::MAX;

/// Counters shared by every shard and the controller.
pub(crate) struct Shared {
    pub subs_ready: AtomicU64,
    /// Subscribe requests sent (some servers answer only with the first data).
    pub subs_sent: AtomicU64,
    /// Subscriptions that received the warm-up message.
    pub warmed: AtomicU64,
    pub subs_failed: AtomicU64,
    pub pubs_ready: AtomicU64,
    pub pubs_failed: AtomicU64,
    pub published: AtomicU64,
    pub pub_errors: AtomicU64,
    /// Deliveries of messages this subscriber had not seen before.
    pub received: AtomicU64,
    pub last_recv_us: AtomicU64,
    pub last_pub_us: AtomicU64,
    pub phase: watch::Sender<u8>,
    pub first_error: std::sync::Mutex<Option<String>>,
    /// Publishes (answered or failed) and deliveries that complete the run
    /// (0 for what a scenario does not do).
    attempts_expected: u64,
    deliveries_expected: u64,
    /// The thread that made this, which runs the scenario's phases: it
    /// sleeps between its checks, and whatever completes the run wakes it.
    controller: std::thread::Thread,
}

impl Shared {
    pub(crate) fn new(attempts_expected: u64, deliveries_expected: u64) -> Arc<Shared> {
        Arc::new(Shared {
            subs_ready: AtomicU64::new(0),
            subs_sent: AtomicU64::new(0),
            warmed: AtomicU64::new(0),
            subs_failed: AtomicU64::new(0),
            pubs_ready: AtomicU64::new(0),
            pubs_failed: AtomicU64::new(0),
            published: AtomicU64::new(0),
            pub_errors: AtomicU64::new(0),
            received: AtomicU64::new(0),
            last_recv_us: AtomicU64::new(0),
            last_pub_us: AtomicU64::new(0),
            phase: watch::channel(SETUP).0,
            first_error: std::sync::Mutex::new(None),
            attempts_expected,
            deliveries_expected,
            controller: std::thread::current(),
        })
    }

    /// Every expected publish has been answered or has failed, and every
    /// expected delivery has arrived.
    pub(crate) fn complete(&self) -> bool {
        self.publishing_done() && self.received.load(Ordering::SeqCst) >= self.deliveries_expected
    }

    /// Every expected publish has been answered or has failed.
    pub(crate) fn publishing_done(&self) -> bool {
        self.attempts() >= self.attempts_expected
    }

    /// Publishes answered or failed.
    fn attempts(&self) -> u64 {
        self.published.load(Ordering::SeqCst) + self.pub_errors.load(Ordering::SeqCst)
    }

    /// Counts a publish the server answered.
    pub(crate) fn publish_answered(&self) {
        self.last_pub_us.fetch_max(now_us(), Ordering::Relaxed);
        self.count_attempt(&self.published);
    }

    /// Counts a publish that failed.
    pub(crate) fn publish_failed(&self, e: impl std::fmt::Display) {
        self.error(e);
        self.count_attempt(&self.pub_errors);
    }

    fn count_attempt(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
        // Read after the increment, so the attempt counted last sees the
        // total at its target (scenarios never attempt more than expected).
        if self.attempts() == self.attempts_expected {
            self.wake_if_complete();
        }
    }

    /// Counts `new` first deliveries, the latest at `now_us`.
    fn delivered(&self, new: u64, now_us: u64) {
        self.last_recv_us.fetch_max(now_us, Ordering::Relaxed);
        let before = self.received.fetch_add(new, Ordering::SeqCst);
        // Only the deliveries that reach the target read the rest of the
        // run's state: the per-delivery path stays one comparison.
        if before < self.deliveries_expected && before + new >= self.deliveries_expected {
            self.wake_if_complete();
        }
    }

    /// Wakes the controller when the run is complete. Of two counts that
    /// reach their targets at once, at least one sees the other (SeqCst).
    fn wake_if_complete(&self) {
        if self.complete() {
            self.controller.unpark();
        }
    }

    pub(crate) fn error(&self, e: impl std::fmt::Display) {
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }

    pub(crate) fn set_phase(&self, phase: u8) {
        self.phase.send_replace(phase);
    }

    pub(crate) fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Waits until the phase is at least `phase`.
pub(crate) async fn until(rx: &mut watch::Receiver<u8>, phase: u8) {
    let _ = rx.wait_for(|p| *p >= phase).await;
}

/// Runs `make(shard)` on each of `threads` OS threads, each a current-thread
/// runtime with a `LocalSet`, and returns their results in shard order.
pub(crate) fn run_sharded<T, F, Fut>(threads: usize, make: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + 'static,
{
    let make = Arc::new(make);
    let handles: Vec<_> = (0..threads)
        .map(|shard| {
            let make = make.clone();
            std::thread::Builder::new()
                .name(format!("bench-{shard}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("tokio runtime");
                    let local = tokio::task::LocalSet::new();
                    local.block_on(&rt, make(shard))
                })
                .expect("spawn bench thread")
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("bench thread panicked"))
        .collect()
}

/// Spawns `task(i)` as a local task for every `i < n` that belongs to
/// `shard` of `threads` (`i ≡ shard mod threads`).
pub(crate) fn spawn_mine<T, Fut>(
    shard: usize,
    threads: usize,
    n: usize,
    task: impl Fn(usize) -> Fut,
) -> Vec<JoinHandle<T>>
where
    T: 'static,
    Fut: Future<Output = T> + 'static,
{
    (shard..n)
        .step_by(threads)
        .map(|i| tokio::task::spawn_local(task(i)))
        .collect()
}

/// The results of `tasks` that did not panic, in order.
pub(crate) async fn join_ok<T>(tasks: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(v) = t.await {
            out.push(v);
        }
    }
    out
}

/// Connects a publisher, counting it in `pubs_ready` or `pubs_failed`.
pub(crate) async fn connect_publisher(
    endpoint: &Endpoint,
    shared: &Shared,
) -> Option<SendRequest<Bytes>> {
    match endpoint.connect().await {
        Ok(send) => {
            shared.pubs_ready.fetch_add(1, Ordering::Relaxed);
            Some(send)
        }
        Err(e) => {
            shared.error(format!("publisher connection: {e}"));
            shared.pubs_failed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Everything the subscriber side needs, shared read-only by the shards.
pub(crate) struct SubPlan {
    pub endpoint: Endpoint,
    pub framing: FramingArg,
    /// Per topic.
    pub uris: Vec<Uri>,
    pub subs_per_topic: usize,
    pub connections: usize,
    /// Per topic: per publisher, the first bitmap index of its messages.
    pub offsets: Vec<Vec<u64>>,
    /// Per topic: messages that will be published to it.
    pub expected: Vec<u64>,
    /// Subscribe requests in flight per connection.
    pub open_window: usize,
    /// Keep every delivery for `--latency-log`.
    pub log_deliveries: bool,
}

impl SubPlan {
    /// The subscriber side of a run over `topics`; `offsets` and `expected`
    /// per topic as [`assign`] makes them.
    pub(crate) fn new(
        args: &BenchArgs,
        sub_url: &str,
        tls: &TlsChoice,
        topics: &[String],
        offsets: Vec<Vec<u64>>,
        expected: Vec<u64>,
    ) -> Result<SubPlan> {
        Ok(SubPlan {
            endpoint: Endpoint::new(sub_url, tls)?,
            framing: args.framing,
            uris: topic_uris(sub_url, topics)?,
            subs_per_topic: args.subs,
            connections: args.connections,
            offsets,
            expected,
            open_window: args.open_window,
            log_deliveries: args.latency_log.is_some(),
        })
    }

    pub(crate) fn total(&self) -> usize {
        self.uris.len() * self.subs_per_topic
    }

    /// Subscription `j` reads topic `j / S` and rides connection `j % C`.
    fn topic_of(&self, j: usize) -> usize {
        j / self.subs_per_topic
    }

    /// Where subscription `j` is, as `--latency-log` writes it.
    fn route(&self, j: usize) -> Route {
        Route {
            topic: self.topic_of(j) as u32,
            connection: (j % self.connections) as u32,
            subscription: j as u32,
        }
    }
}

/// What one subscriber connection measured.
pub(crate) struct ConnStats {
    pub hist: Histogram<u64>,
    pub unique: u64,
    pub dups: u64,
    pub bytes: u64,
    pub other: u64,
    pub bad: u64,
    /// Streams that ended (in-band end, END_STREAM or reset) while measuring.
    pub ended: u64,
    /// Per subscription: (expected, unique received).
    pub per_sub: Vec<(u64, u64)>,
    bitmaps: Vec<Vec<u64>>,
    warm: Vec<bool>,
    /// With `--latency-log`: every delivery.
    log: Option<Vec<Delivery>>,
}

impl ConnStats {
    pub(crate) fn new() -> ConnStats {
        ConnStats {
            hist: report::histogram(),
            unique: 0,
            dups: 0,
            bytes: 0,
            other: 0,
            bad: 0,
            ended: 0,
            per_sub: Vec::new(),
            bitmaps: Vec::new(),
            warm: Vec::new(),
            log: None,
        }
    }

    /// Adds `o`'s counts, and moves its per-subscription figures and its
    /// deliveries in (a `--latency-log` run holds millions of them: they are
    /// not copied on their way from each connection to the summary).
    pub(crate) fn merge(&mut self, mut o: ConnStats) {
        let _ = self.hist.add(&o.hist);
        self.unique += o.unique;
        self.dups += o.dups;
        self.bytes += o.bytes;
        self.other += o.other;
        self.bad += o.bad;
        self.ended += o.ended;
        self.per_sub.append(&mut o.per_sub);
        if let Some(mut theirs) = o.log {
            self.log.get_or_insert_with(Vec::new).append(&mut theirs);
        }
    }
}

struct SubSink<'a> {
    st: &'a mut ConnStats,
    local: usize,
    /// For `--latency-log`.
    route: Route,
    offsets: &'a [u64],
    now: u64,
    new: u64,
    warmed: u64,
    ended: bool,
}

impl Sink for SubSink<'_> {
    fn message(&mut self, p: &[u8]) {
        let Some(h) = payload::decode(p) else {
            self.st.bad += 1;
            return;
        };
        if h.publisher == WARMUP_PUBLISHER {
            if !std::mem::replace(&mut self.st.warm[self.local], true) {
                self.warmed += 1;
            }
            return;
        }
        self.st.bytes += h.len as u64;
        self.st
            .hist
            .saturating_record(self.now.saturating_sub(h.ts_us).max(1));
        if let Some(log) = &mut self.st.log {
            log.push(Delivery {
                published_us: h.ts_us,
                received_us: self.now,
                seq: h.seq,
                publisher: h.publisher,
                route: self.route,
            });
        }
        let Some(&base) = self.offsets.get(h.publisher as usize) else {
            self.st.bad += 1;
            return;
        };
        let idx = base + h.seq;
        let bitmap = &mut self.st.bitmaps[self.local];
        let (word, bit) = ((idx / 64) as usize, 1u64 << (idx % 64));
        match bitmap.get_mut(word) {
            Some(w) if *w & bit == 0 => {
                *w |= bit;
                self.st.unique += 1;
                self.st.per_sub[self.local].1 += 1;
                self.new += 1;
            }
            Some(_) => self.st.dups += 1,
            None => self.st.bad += 1,
        }
    }

    fn other(&mut self) {
        self.st.other += 1;
    }

    fn end(&mut self) {
        self.ended = true;
    }
}

/// One subscriber connection: opens its subscriptions, reads them until the
/// STOP phase, returns what it measured.
pub(crate) async fn sub_connection(
    plan: Arc<SubPlan>,
    shared: Arc<Shared>,
    conn: usize,
) -> ConnStats {
    let mine: Vec<usize> = (conn..plan.total()).step_by(plan.connections).collect();
    let stats = RefCell::new(ConnStats::new());
    {
        let mut st = stats.borrow_mut();
        for &j in &mine {
            let expected = plan.expected[plan.topic_of(j)];
            st.per_sub.push((expected, 0));
            st.bitmaps.push(vec![0u64; expected.div_ceil(64) as usize]);
            st.warm.push(false);
        }
        if plan.log_deliveries {
            st.log = Some(Vec::new());
        }
    }
    let send = match plan.endpoint.connect().await {
        Ok(s) => s,
        Err(e) => {
            shared.error(format!("subscriber connection: {e}"));
            shared
                .subs_failed
                .fetch_add(mine.len() as u64, Ordering::Relaxed);
            return stats.into_inner();
        }
    };
    if mine.len() > send.current_max_send_streams() && send.current_max_send_streams() > 0 {
        shared.error(format!(
            "{} subscriptions on one connection but the server allows {} streams: use more --connections",
            mine.len(),
            send.current_max_send_streams()
        ));
    }
    let mut phase = shared.phase.subscribe();
    // At most `open_window` subscribe requests of this connection await
    // their answer at a time, as clients that arrive over time would.
    let window = tokio::sync::Semaphore::new(plan.open_window.max(1));
    {
        let mut futs = FuturesUnordered::new();
        for (local, &j) in mine.iter().enumerate() {
            futs.push(subscription(
                &stats,
                &shared,
                &plan,
                &window,
                local,
                send.clone(),
                j,
            ));
        }
        let stop = until(&mut phase, STOP);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                r = futs.next() => if r.is_none() { stop.as_mut().await; break },
                () = stop.as_mut() => break,
            }
        }
    }
    stats.into_inner()
}

async fn subscription(
    stats: &RefCell<ConnStats>,
    shared: &Shared,
    plan: &SubPlan,
    window: &tokio::sync::Semaphore,
    local: usize,
    send: SendRequest<Bytes>,
    j: usize,
) {
    let route = plan.route(j);
    let topic = plan.topic_of(j);
    let permit = window.acquire().await;
    let req = Request::builder()
        .method(Method::GET)
        .uri(plan.uris[topic].clone())
        .header(header::ACCEPT, plan.framing.accept())
        .body(())
        .expect("valid request");
    let fail = |e: String| {
        shared.error(e);
        shared.subs_failed.fetch_add(1, Ordering::Relaxed);
    };
    let mut send = match send.ready().await {
        Ok(s) => s,
        Err(e) => return fail(format!("subscribe: {e}")),
    };
    let resp = match send.send_request(req, true) {
        Ok((resp, _)) => {
            shared.subs_sent.fetch_add(1, Ordering::Relaxed);
            resp.await
        }
        Err(e) => return fail(format!("subscribe: {e}")),
    };
    let resp = match resp {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return fail(format!("subscribe answered {}", r.status())),
        Err(e) => return fail(format!("subscribe: {e}")),
    };
    shared.subs_ready.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    let offsets = &plan.offsets[topic];
    let mut body = resp.into_body();
    let mut parser = StreamParser::new(plan.framing);
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { break };
        let _ = body.flow_control().release_capacity(chunk.len());
        let now = now_us();
        let mut st = stats.borrow_mut();
        let mut sink = SubSink {
            st: &mut st,
            local,
            route,
            offsets,
            now,
            new: 0,
            warmed: 0,
            ended: false,
        };
        parser.feed(&chunk, &mut sink);
        let (new, ended) = (sink.new, sink.ended);
        if sink.warmed > 0 {
            shared.warmed.fetch_add(sink.warmed, Ordering::Relaxed);
        }
        if new > 0 {
            shared.delivered(new, now);
        }
        if ended {
            break;
        }
    }
    stats.borrow_mut().ended += 1;
}

/// Publisher side of the fanout scenario.
pub(crate) struct PubPlan {
    pub endpoint: Endpoint,
    pub uris: Vec<Uri>,
    /// Per publisher: (topic, messages) in round-robin order.
    pub assignment: Vec<Vec<(usize, u64)>>,
    pub size: usize,
    /// Messages per second for each publisher (0: unpaced).
    pub rate_each: f64,
    pub in_flight: usize,
}

/// Request round trip times of one publisher.
pub(crate) struct PubStats {
    pub rtt: Histogram<u64>,
}

pub(crate) async fn publisher(plan: Arc<PubPlan>, shared: Arc<Shared>, p: usize) -> PubStats {
    let mut stats = PubStats {
        rtt: report::histogram(),
    };
    let Some(send) = connect_publisher(&plan.endpoint, &shared).await else {
        return stats;
    };
    let mut phase = shared.phase.subscribe();
    until(&mut phase, WARMUP).await;
    if p == 0 {
        // One message per topic that every subscription must see before the
        // measurement starts: it proves the server registered them all (some
        // servers send a subscription's headers only with its first data).
        for uri in &plan.uris {
            if let Err(e) = post(send.clone(), uri.clone(), WARMUP_PUBLISHER, 0, plan.size).await {
                shared.error(format!("warm-up: {e}"));
            }
        }
    }
    until(&mut phase, GO).await;
    // The order of (topic, seq): round robin over this publisher's topics.
    let topics = &plan.assignment[p];
    let total: u64 = topics.iter().map(|t| t.1).sum();
    let mut next_seq = vec![0u64; topics.len()];
    let mut rr = 0usize;
    let mut next = move || -> (usize, u64) {
        loop {
            let i = rr % topics.len();
            rr += 1;
            if next_seq[i] < topics[i].1 {
                next_seq[i] += 1;
                return (topics[i].0, next_seq[i] - 1);
            }
        }
    };
    let start = Instant::now();
    let mut sent = 0u64;
    let mut inflight = FuturesUnordered::new();
    loop {
        if phase.borrow().to_owned() >= STOP {
            break;
        }
        let allowed = if plan.rate_each > 0.0 {
            ((start.elapsed().as_secs_f64() * plan.rate_each) as u64 + 1).min(total)
        } else {
            total
        };
        while inflight.len() < plan.in_flight && sent < allowed {
            let (topic, seq) = next();
            sent += 1;
            inflight.push(post(
                send.clone(),
                plan.uris[topic].clone(),
                p as u16,
                seq,
                plan.size,
            ));
        }
        if inflight.is_empty() && sent == total {
            break;
        }
        let due = (plan.rate_each > 0.0 && sent < total && inflight.len() < plan.in_flight)
            .then(|| start + Duration::from_secs_f64((sent as f64) / plan.rate_each));
        let pace = async move {
            match due {
                Some(due) => tokio::time::sleep_until(due.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            Some(r) = inflight.next() => match r {
                Ok(rtt) => {
                    stats.rtt.saturating_record(rtt.max(1));
                    shared.publish_answered();
                }
                Err(e) => shared.publish_failed(e),
            },
            () = pace => {},
            () = until(&mut phase, STOP) => break,
        }
    }
    stats
}

/// One POST of a fresh payload; the round trip in µs.
pub(crate) async fn post(
    send: SendRequest<Bytes>,
    uri: Uri,
    publisher: u16,
    seq: u64,
    size: usize,
) -> std::result::Result<u64, String> {
    let mut send = send.ready().await.map_err(|e| format!("publish: {e}"))?;
    let t0 = now_us();
    let body = payload::encode(publisher, seq, t0, size);
    let req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, size)
        .body(())
        .expect("valid request");
    let (resp, mut stream) = send
        .send_request(req, false)
        .map_err(|e| format!("publish: {e}"))?;
    stream
        .send_data(body, true)
        .map_err(|e| format!("publish body: {e}"))?;
    let resp = resp.await.map_err(|e| format!("publish: {e}"))?;
    let status = resp.status();
    // Drain the (small) answer so the stream closes cleanly.
    let mut body = resp.into_body();
    while let Some(chunk) = body.data().await {
        match chunk {
            Ok(c) => {
                let _ = body.flow_control().release_capacity(c.len());
            }
            Err(_) => break,
        }
    }
    if !status.is_success() {
        return Err(format!("publish answered {status}"));
    }
    Ok(now_us() - t0)
}

/// Splits `n` messages over publishers and topics: publisher p owns topics
/// t ≡ p (mod P) when there are at least as many topics as publishers, else
/// topic p mod T. Returns the per-publisher assignment, per-topic bitmap
/// offsets (per publisher) and per-topic totals.
#[allow(clippy::type_complexity)]
pub(crate) fn assign(
    n: u64,
    publishers: usize,
    topics: usize,
) -> (Vec<Vec<(usize, u64)>>, Vec<Vec<u64>>, Vec<u64>) {
    let mut assignment = Vec::with_capacity(publishers);
    for p in 0..publishers {
        let mine = n / publishers as u64 + u64::from((p as u64) < n % publishers as u64);
        let owned: Vec<usize> = if topics >= publishers {
            (p..topics).step_by(publishers).collect()
        } else {
            vec![p % topics]
        };
        let k = owned.len() as u64;
        assignment.push(
            owned
                .iter()
                .enumerate()
                .map(|(i, &t)| (t, mine / k + u64::from((i as u64) < mine % k)))
                .collect::<Vec<_>>(),
        );
    }
    let mut offsets = vec![vec![0u64; publishers]; topics];
    let mut totals = vec![0u64; topics];
    for (p, list) in assignment.iter().enumerate() {
        for &(t, count) in list {
            offsets[t][p] = totals[t];
            totals[t] += count;
        }
    }
    (assignment, offsets, totals)
}

pub(crate) fn run(
    args: &BenchArgs,
    sub_url: &str,
    pub_url: &str,
    tls: &TlsChoice,
) -> Result<Summary> {
    if args.publishers == 0 {
        return Err(invalid("--publishers must be at least 1"));
    }
    if args.publishers > u16::MAX as usize {
        return Err(invalid("too many publishers"));
    }
    let log_file = match &args.latency_log {
        Some(path) => Some(LatencyLog::create(path)?),
        None => None,
    };
    let names = topic_names(&args.topic_prefix, args.topics);
    let (assignment, offsets, expected) = assign(args.messages, args.publishers, args.topics);
    let sub_plan = Arc::new(SubPlan::new(
        args,
        sub_url,
        tls,
        &names,
        offsets,
        expected.clone(),
    )?);
    let pub_plan = Arc::new(PubPlan {
        endpoint: Endpoint::new(pub_url, tls)?,
        uris: topic_uris(pub_url, &names)?,
        assignment,
        size: args.size,
        rate_each: args.rate / args.publishers as f64,
        in_flight: args.streams,
    });
    let expected_deliveries: u64 = expected.iter().sum::<u64>() * args.subs as u64;
    let total_subs = sub_plan.total() as u64;
    let server = Server::new(&args.server_pid);
    let shared = Shared::new(args.messages, expected_deliveries);

    let threads = args.threads;
    let (connections, publishers) = (args.connections, args.publishers);
    let (sp, pp, sh) = (sub_plan.clone(), pub_plan.clone(), shared.clone());
    let runner = std::thread::spawn(move || {
        run_sharded(threads, move |shard| {
            let (sp, pp, sh) = (sp.clone(), pp.clone(), sh.clone());
            async move {
                let subs = spawn_mine(shard, threads, connections, |c| {
                    sub_connection(sp.clone(), sh.clone(), c)
                });
                let pubs = spawn_mine(shard, threads, publishers, |p| {
                    publisher(pp.clone(), sh.clone(), p)
                });
                let mut stats = ConnStats::new();
                for s in join_ok(subs).await {
                    stats.merge(s);
                }
                let mut rtt = report::histogram();
                for p in join_ok(pubs).await {
                    let _ = rtt.add(&p.rtt);
                }
                (stats, rtt)
            }
        })
    });

    // Setup: every subscription requested and every publisher connected,
    // then a warm-up message per topic that every subscription must receive.
    let mut progress = Progress::new(args.quiet);
    let setup_start = Instant::now();
    let limit = Duration::from_secs(30);
    let failed = || {
        shared.subs_failed.load(Ordering::Relaxed) + shared.pubs_failed.load(Ordering::Relaxed) > 0
    };
    while !failed() && setup_start.elapsed() < limit {
        let sent = shared.subs_sent.load(Ordering::Relaxed);
        let pubs = shared.pubs_ready.load(Ordering::Relaxed);
        if sent == total_subs && pubs == args.publishers as u64 {
            break;
        }
        progress.tick(
            "setup",
            ("subscribed", &shared.subs_ready),
            ("failed", &shared.subs_failed),
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Answers still on their way, and servers that answer only with data.
    let settle = Instant::now();
    while shared.subs_ready.load(Ordering::Relaxed) < total_subs
        && settle.elapsed() < Duration::from_millis(500)
        && !failed()
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    shared.set_phase(WARMUP);
    let warm_start = Instant::now();
    while shared.warmed.load(Ordering::Relaxed) < total_subs
        && warm_start.elapsed() < Duration::from_secs(30)
        && !failed()
    {
        progress.tick(
            "warm-up",
            ("subscribed", &shared.subs_ready),
            ("warmed", &shared.warmed),
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let setup_secs = setup_start.elapsed().as_secs_f64();
    let setup_ok = shared.warmed.load(Ordering::Relaxed) == total_subs
        && shared.pubs_ready.load(Ordering::Relaxed) == args.publishers as u64
        && !failed();
    if !setup_ok && shared.first_error().is_none() {
        shared.error(format!(
            "setup incomplete: {} of {total_subs} subscriptions answered, {} received the warm-up message",
            shared.subs_ready.load(Ordering::Relaxed),
            shared.warmed.load(Ordering::Relaxed)
        ));
    }

    let cpu_start = server.cpu_start();
    let go_us = now_us();
    let go = Instant::now();
    let mut last_received = 0u64;
    let mut last_progress = Instant::now();
    if setup_ok {
        shared.set_phase(GO);
        let mut progress = Progress::new(args.quiet);
        loop {
            // A thread of the bench that wakes often takes CPU time from
            // whatever runs when it wakes (the server, or the client's own
            // connections): it sleeps until the run completes (see
            // `Shared::complete`) or the next check of the drain and
            // duration limits.
            std::thread::park_timeout(CHECK_EVERY);
            progress.tick(
                "fanout",
                ("published", &shared.published),
                ("delivered", &shared.received),
            );
            if shared.complete() {
                break;
            }
            let received = shared.received.load(Ordering::Relaxed);
            if received != last_received {
                last_received = received;
                last_progress = Instant::now();
            }
            // After the last publish, wait for the deliveries still on their
            // way for as long as they keep coming (a slow client or a busy
            // server is not a loss): stop after `--drain` seconds without one.
            if shared.publishing_done() && last_progress.elapsed().as_secs_f64() > args.drain {
                break;
            }
            if go.elapsed().as_secs_f64() > args.duration {
                break;
            }
        }
    }
    let wall = go.elapsed().as_secs_f64();
    let cpu = server.cpu_since(&cpu_start);
    shared.set_phase(STOP);
    let results = runner.join().expect("bench runner panicked");
    let mut stats = ConnStats::new();
    let mut rtt = report::histogram();
    for (s, r) in results {
        stats.merge(s);
        let _ = rtt.add(&r);
    }

    let published = shared.published.load(Ordering::Relaxed);
    let pub_errors = shared.pub_errors.load(Ordering::Relaxed);
    let lost: u64 = stats
        .per_sub
        .iter()
        .map(|(e, got)| e.saturating_sub(*got))
        .sum();
    let subs_with_loss = stats.per_sub.iter().filter(|(e, got)| got < e).count();
    if let Some(log_file) = log_file {
        // Written even when nothing was delivered, so the file always
        // belongs to this run.
        log_file.write(&mut stats.log.take().unwrap_or_default())?;
    }
    let last_recv = shared.last_recv_us.load(Ordering::Relaxed);
    let last_pub = shared.last_pub_us.load(Ordering::Relaxed);
    let deliver_secs = (last_recv.saturating_sub(go_us) as f64 / 1e6).max(1e-6);
    let pub_secs = (last_pub.saturating_sub(go_us) as f64 / 1e6).max(1e-6);

    let mut s = Summary::new("fanout", &args.label);
    s.ok = setup_ok && pub_errors == 0 && lost == 0 && stats.bad == 0;
    s.set("sub_url", sub_url);
    s.set("pub_url", pub_url);
    s.set("framing", args.framing.name());
    s.set("topics", args.topics);
    s.set("subs_per_topic", args.subs);
    s.set("subscriptions", total_subs);
    s.set("connections", args.connections);
    s.set("publishers", args.publishers);
    s.set("size", args.size);
    s.set("rate", args.rate);
    s.set("in_flight", args.streams);
    s.set("threads", args.threads);
    s.set("setup_s", r3(setup_secs));
    s.set("setup_ok", setup_ok);
    s.set("published", published);
    s.set("publish_errors", pub_errors);
    s.set("pub_msgs_per_s", r1(published as f64 / pub_secs));
    s.set("expected", expected_deliveries);
    s.set("delivered", stats.unique);
    s.set("lost", lost);
    s.set("subs_with_loss", subs_with_loss);
    s.set("duplicates", stats.dups);
    s.set("bad", stats.bad);
    s.set("other_events", stats.other);
    s.set("streams_ended", stats.ended);
    s.set(
        "delivered_msgs_per_s",
        r1(stats.unique as f64 / deliver_secs),
    );
    s.set(
        "delivered_mb_per_s",
        r3(stats.bytes as f64 / deliver_secs / 1e6),
    );
    s.set("deliver_s", r3(deliver_secs));
    s.set("wall_s", r3(wall));
    s.set("latency_us", report::latency_json(&stats.hist));
    s.set("publish_rtt_us", report::latency_json(&rtt));
    if let Some(path) = &args.latency_log {
        s.set("latency_log", path.display().to_string());
    }
    cpu.record(&mut s, &server, "deliveries_per_server_cpu_s", stats.unique);
    if let Some(e) = shared.first_error() {
        s.set("error", e);
    }
    s.line(format!(
        "fanout {} {}: {} topics x {} subs over {} conns, {} publishers, {} msgs of {} B{}",
        args.label,
        args.framing.name(),
        args.topics,
        args.subs,
        args.connections,
        args.publishers,
        args.messages,
        args.size,
        if args.rate > 0.0 {
            format!(" at {}/s", args.rate)
        } else {
            String::new()
        }
    ));
    s.line(format!(
        "  published {published} ({:.0}/s, {pub_errors} errors); delivered {} of {expected_deliveries} ({:.0}/s, {:.1} MB/s); lost {lost}, duplicates {}",
        published as f64 / pub_secs,
        stats.unique,
        stats.unique as f64 / deliver_secs,
        stats.bytes as f64 / deliver_secs / 1e6,
        stats.dups
    ));
    if !stats.hist.is_empty() {
        let h = &stats.hist;
        s.line(format!(
            "  latency µs: p50 {} p90 {} p99 {} p99.9 {} max {}",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.9),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        ));
    }
    if let Some(c) = cpu.server {
        s.line(format!(
            "  server CPU {c:.2} s ({:.0} deliveries per CPU-second); client CPU {:.2} s",
            stats.unique as f64 / c.max(1e-9),
            cpu.client.unwrap_or(0.0)
        ));
    }
    for line in cpu.lines() {
        s.line(line);
    }
    if let Some(e) = shared.first_error() {
        s.line(format!("  first error: {e}"));
    }
    Ok(s)
}
