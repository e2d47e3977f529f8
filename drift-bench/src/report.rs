//! Server process figures from /proc, histograms, progress and the summary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};

use super::threads::{self, ThreadStats};

/// A latency histogram in µs, 1 µs to 10 min, 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

pub(crate) fn latency_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "p50": h.value_at_quantile(0.50),
        "p90": h.value_at_quantile(0.90),
        "p99": h.value_at_quantile(0.99),
        "p999": h.value_at_quantile(0.999),
        "max": h.max(),
        "mean": (h.mean() * 10.0).round() / 10.0,
        "count": h.len(),
    })
}

fn clock_ticks() -> f64 {
    // CLK_TCK is 100 on every Linux this runs on; ask getconf to be sure.
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a process (all its threads), in seconds.
fn cpu_seconds(pid: u32, ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// Time stolen from this machine by its hypervisor, and all CPU time, both
/// summed over every CPU, in ticks since boot (the `cpu` line of /proc/stat).
fn machine_steal() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq steal (guest time is
    // already counted in user and nice).
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    Some((*f.get(7)?, f.iter().sum()))
}

/// VmRSS of a process in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(status_number(&status, "VmRSS:")? * 1024)
}

/// The number on the `key` line of a `/proc/…/status` file (`VmRSS:` is in
/// kB; switch counts are plain numbers).
pub(crate) fn status_number(status: &str, key: &str) -> Option<u64> {
    let value = status.lines().find_map(|l| l.strip_prefix(key))?;
    value.split_whitespace().next()?.parse().ok()
}

/// The server processes being measured.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pids: Vec<u32>,
    ticks: f64,
}

impl Server {
    pub(crate) fn new(pids: &[u32]) -> Server {
        Server {
            pids: pids.to_vec(),
            ticks: clock_ticks(),
        }
    }

    pub(crate) fn known(&self) -> bool {
        !self.pids.is_empty()
    }

    /// Summed CPU seconds, `None` without pids or when one is gone.
    pub(crate) fn cpu(&self) -> Option<f64> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|&p| cpu_seconds(p, self.ticks)).sum()
    }

    pub(crate) fn rss(&self) -> Option<u64> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|&p| rss_bytes(p)).sum()
    }

    fn self_cpu(&self) -> Option<f64> {
        cpu_seconds(std::process::id(), self.ticks)
    }

    pub(crate) fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// Reads the server's and this client's CPU clocks at the start of a
    /// measured phase.
    pub(crate) fn cpu_start(&self) -> CpuStart {
        CpuStart {
            server: self.cpu(),
            client: self.self_cpu(),
            steal: machine_steal(),
            server_threads: self.threads(),
            client_threads: threads::snapshot(std::process::id()),
        }
    }

    /// CPU seconds spent by the server and by this client since `start`.
    pub(crate) fn cpu_since(&self, start: &CpuStart) -> CpuUsed {
        let delta = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
        let steal = start.steal.zip(machine_steal()).and_then(|(a, b)| {
            let total = b.1.checked_sub(a.1).filter(|t| *t > 0)?;
            Some(100.0 * b.0.saturating_sub(a.0) as f64 / total as f64)
        });
        CpuUsed {
            server: delta(start.server, self.cpu()),
            client: delta(start.client, self.self_cpu()),
            steal_pct: steal,
            server_threads: threads::since(&start.server_threads, &self.threads()),
            client_threads: threads::since(
                &start.client_threads,
                &threads::snapshot(std::process::id()),
            ),
        }
    }

    /// Every thread of every server process.
    fn threads(&self) -> Vec<ThreadStats> {
        self.pids
            .iter()
            .flat_map(|&p| threads::snapshot(p))
            .collect()
    }
}

/// The server's and this client's clocks (per process and per thread) and
/// the machine's steal at the start of a measured phase.
pub(crate) struct CpuStart {
    server: Option<f64>,
    client: Option<f64>,
    steal: Option<(u64, u64)>,
    server_threads: Vec<ThreadStats>,
    client_threads: Vec<ThreadStats>,
}

/// What a measured phase cost: CPU seconds (`None` where unknown), steal,
/// and each thread's figures.
#[derive(Debug, Clone)]
pub(crate) struct CpuUsed {
    pub(crate) server: Option<f64>,
    pub(crate) client: Option<f64>,
    /// Share of the machine's CPU time its hypervisor took (steal), in %:
    /// on a shared virtual machine the main cause of a slow run.
    pub(crate) steal_pct: Option<f64>,
    /// Per thread of the server: CPU time, run-queue wait, switches.
    server_threads: Vec<ThreadStats>,
    /// The same for this client's threads.
    client_threads: Vec<ThreadStats>,
}

impl CpuUsed {
    /// Sets `server_pids`, `server_cpu_s`, `client_cpu_s`, `steal_pct`,
    /// `server_threads`, `client_threads` and `per_key`: `count` per second
    /// of server CPU.
    pub(crate) fn record(&self, s: &mut Summary, server: &Server, per_key: &str, count: u64) {
        s.set("server_pids", json!(server.pids()));
        s.set("server_cpu_s", self.server.map(r3));
        s.set(
            per_key,
            self.server
                .filter(|c| *c > 0.0)
                .map(|c| r1(count as f64 / c)),
        );
        s.set("client_cpu_s", self.client.map(r3));
        s.set("steal_pct", self.steal_pct.map(r1));
        if server.known() {
            s.set("server_threads", threads::to_json(&self.server_threads));
        }
        s.set("client_threads", threads::to_json(&self.client_threads));
    }

    /// The human lines of `steal_pct`, `server_threads` and
    /// `client_threads`, each when it is known.
    pub(crate) fn lines(&self) -> impl Iterator<Item = String> {
        let steal = self.steal_pct.map(|steal| {
            format!("  machine: {steal:.1} % of its CPU time taken by the hypervisor (steal)")
        });
        [
            steal,
            threads::line("server", &self.server_threads),
            threads::line("client", &self.client_threads),
        ]
        .into_iter()
        .flatten()
    }
}

/// Prints a line on stderr once a second while a phase runs.
pub(crate) struct Progress {
    quiet: bool,
    last: Instant,
    last_values: [u64; 2],
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Progress {
        Progress {
            quiet,
            last: Instant::now(),
            last_values: [0, 0],
        }
    }

    /// `a` and `b` are two running counters shown with their rates.
    pub(crate) fn tick(&mut self, what: &str, a: (&str, &AtomicU64), b: (&str, &AtomicU64)) {
        let elapsed = self.last.elapsed();
        if self.quiet || elapsed < Duration::from_secs(1) {
            return;
        }
        let (va, vb) = (a.1.load(Ordering::Relaxed), b.1.load(Ordering::Relaxed));
        let secs = elapsed.as_secs_f64();
        eprintln!(
            "[{what}] {}: {va} ({:.0}/s)  {}: {vb} ({:.0}/s)",
            a.0,
            (va - self.last_values[0]) as f64 / secs,
            b.0,
            (vb - self.last_values[1]) as f64 / secs,
        );
        self.last = Instant::now();
        self.last_values = [va, vb];
    }
}

/// What a scenario reports: human lines, then the JSON object.
pub(crate) struct Summary {
    pub ok: bool,
    pub lines: Vec<String>,
    pub json: Map<String, Value>,
}

impl Summary {
    pub(crate) fn new(scenario: &str, label: &str) -> Summary {
        let mut json = Map::new();
        json.insert("scenario".into(), scenario.into());
        json.insert("label".into(), label.into());
        Summary {
            ok: true,
            lines: Vec::new(),
            json,
        }
    }

    pub(crate) fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.json.insert(key.into(), value.into());
    }

    pub(crate) fn line(&mut self, line: String) {
        self.lines.push(line);
    }

    pub(crate) fn print(self) {
        for l in &self.lines {
            println!("{l}");
        }
        println!("{}", Value::Object(self.json));
    }
}

/// Rounds for the JSON output.
pub(crate) fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub(crate) fn r3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
