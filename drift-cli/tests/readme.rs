//! The README's shell examples, run as written against the real `drift
//! serve` with its defaults (only the port differs: an ephemeral one, so the
//! tests cannot collide with a server already on 5500).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod readme_blocks;
#[cfg(feature = "redis")]
#[path = "../../drift-core/tests/support/mod.rs"]
mod support;

use readme_blocks::{readme, shell_block};

/// Kills the server when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The shell commands of the README section `heading`, continuation lines
/// joined, comments dropped.
fn commands(readme: &str, heading: &str) -> Vec<String> {
    let block = shell_block(readme, heading);
    let mut out = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        let line = line.trim_end();
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    out
}

fn start_server(dir: &Path, port: u16) -> Running {
    start_server_with(dir, port, &[])
}

/// `drift ARGS` in `dir`, once it logs that it is listening.
fn start(dir: &Path, args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_drift"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("DRIFT_LISTEN")
        .env_remove("DRIFT_DATA_DIR")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start drift serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "server did not start");
        let line = lines.next().expect("server exited").unwrap();
        if line.contains("listening on") {
            break;
        }
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Running(child)
}

/// `drift serve ARGS` on `port`, once it listens.
fn start_server_with(dir: &Path, port: u16, args: &[String]) -> Running {
    let listen = format!("127.0.0.1:{port}");
    let mut all = vec!["serve", "--listen", &listen];
    all.extend(args.iter().map(String::as_str));
    start(dir, &all)
}

#[test]
fn curl_examples_run_verbatim() {
    let readme = readme();
    let dir = std::env::temp_dir().join(format!("drift-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let _server = start_server(&dir, port);

    let mut outputs = Vec::new();
    for cmd in commands(&readme, "## Try it with curl") {
        let cmd = cmd.replace(":5500", &format!(":{port}"));
        // Subscriptions stream forever: give each a few seconds, then stop it.
        let streaming = cmd.contains(" -N ");
        let script = if streaming {
            format!("timeout 3 {cmd}")
        } else {
            cmd.clone()
        };
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(&dir)
            .output()
            .unwrap();
        let code = out.status.code();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if streaming {
            assert_eq!(
                code,
                Some(124),
                "{cmd}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            assert_eq!(
                code,
                Some(0),
                "{cmd}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        outputs.push((cmd, stdout));
    }
    let _ = std::fs::remove_dir_all(&dir);

    // What the examples promise: an id on publish, history replayed as SSE,
    // an explicit gap for a foreign resume id, create/exists/delete answers.
    let find = |needle: &str| {
        outputs
            .iter()
            .find(|(c, _)| c.contains(needle))
            .map(|(_, o)| o.as_str())
            .unwrap()
    };
    assert!(find("-d 'hello'").contains("drift-id: "));
    assert!(find("X-History-Length: 10").contains("data: hello"));
    assert!(find("X-History-Since").contains("data: hello"));
    assert!(find("Last-Event-ID").contains("event: gap"));
    assert!(find("-X PUT").starts_with("HTTP/2 201"));
    assert!(find("-I ").starts_with("HTTP/2 200"));
    assert!(find("-X DELETE").starts_with("HTTP/2 200"));
}

/// The shell block of `heading` as one script: comments dropped, and each
/// `drift sub` that would follow forever given 3 seconds (`timeout` exits 124).
fn script(readme: &str, heading: &str) -> String {
    let block = shell_block(readme, heading);
    let mut out = String::from("set -e\n");
    for line in block.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("drift sub") && !line.contains("--count") {
            out.push_str(&format!("timeout 3 {line} || test $? -eq 124\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn cli_examples_run_verbatim() {
    let script = script(&readme(), "## Publish and subscribe from the command line");
    let dir = std::env::temp_dir().join(format!("drift-cli-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let _server = start_server(&dir, port);

    // `drift` on PATH, as after `cargo install`.
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_drift")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .env("PATH", path)
        .env("DRIFT_URL", format!("https://127.0.0.1:{port}"))
        .env_remove("DRIFT_CACERT")
        .env_remove("DRIFT_INSECURE")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script}\nstdout: {stdout}\nstderr: {stderr}"
    );

    // What the examples promise: the first publish's id (and none of the
    // quiet ones), JSON lines, then the follow mode's plain lines (history
    // replayed first).
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1 + 3 + 3, "{stdout}");
    assert!(lines[0].ends_with("-1"), "{stdout}");
    for (line, data) in lines[1..4].iter().zip(["hello", "one", "two"]) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["data"], data);
        assert!(v["id"].as_str().unwrap().contains('-'));
    }
    assert_eq!(&lines[4..], ["hello", "one", "two"]);
}

/// The Authentication section's commands as written: those before `drift
/// serve` run first, the server starts with the block's own flags (on an
/// ephemeral port), then the rest runs as one script (so `TOKEN` carries
/// over), each `curl -N` given 3 seconds.
#[test]
fn auth_examples_run_verbatim() {
    let readme = readme();
    let dir = std::env::temp_dir().join(format!("drift-auth-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_drift")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let bash = |script: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(&dir)
            .env("PATH", &path)
            .env_remove("DRIFT_JWT_SECRET_FILE")
            .env_remove("DRIFT_TOKEN")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "{script}\nstdout: {stdout}\nstderr: {stderr}"
        );
        stdout
    };
    let commands = commands(&readme, "## Authentication");
    let serve_at = commands
        .iter()
        .position(|c| c.starts_with("drift serve "))
        .expect("the section starts a server");
    bash(&format!("set -e\n{}", commands[..serve_at].join("\n")));
    let args: Vec<String> = commands[serve_at]["drift serve ".len()..]
        .split_whitespace()
        .map(|a| a.trim_matches('\'').to_owned())
        .collect();
    let _server = start_server_with(&dir, port, &args);
    let mut script = String::from("set -e\n");
    for cmd in &commands[serve_at + 1..] {
        let cmd = cmd.replace(":5500", &format!(":{port}"));
        if cmd.contains(" -N ") {
            script.push_str(&format!("timeout 3 {cmd} || test $? -eq 124\n"));
        } else {
            script.push_str(&cmd);
            script.push('\n');
        }
    }
    let stdout = bash(&script);
    let _ = std::fs::remove_dir_all(&dir);
    // What the section promises: the signed-in publish and subscription,
    // and the anonymous publish refused with the reason.
    assert!(stdout.contains("data: signed in"), "{stdout}");
    assert!(stdout.contains("HTTP/2 401"), "{stdout}");
    assert!(stdout.contains("www-authenticate: Bearer"), "{stdout}");
    assert!(stdout.contains("needs a token"), "{stdout}");
}

/// What the C section's commands build into the checkout (`cc … -o NAME`)
/// is ignored by git, so following the README leaves `git status` clean.
#[test]
fn c_example_binaries_are_ignored_by_git() {
    let readme = readme();
    let block = shell_block(&readme, "## C");
    let outputs: Vec<&str> = block
        .lines()
        .filter(|line| line.trim_start().starts_with("cc "))
        .filter_map(|line| line.split(" -o ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(outputs, ["publisher", "subscriber"], "{block}");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new("git")
        .args(["check-ignore", "--verbose", "--non-matching"])
        .args(&outputs)
        .current_dir(root)
        .output()
        .expect("run git");
    let report = String::from_utf8_lossy(&out.stdout);
    // A non-matching path is reported with an empty source ("::\tNAME").
    assert!(
        out.status.success() && !report.contains("::"),
        "not ignored:\n{report}"
    );
}

/// The README's two-node example, against two `drift serve --redis` nodes
/// on a Redis server of the test's own (the ports differ from the README's
/// only to be free).
#[cfg(feature = "redis")]
#[test]
fn redis_examples_run_verbatim() {
    let redis = support::RedisServer::start();
    let dir = std::env::temp_dir().join(format!("drift-redis-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (p1, p2) = (free_port(), free_port());
    let _nodes = [p1, p2].map(|port| start_node(&dir, port, &redis.url()));
    let script = script(&readme(), "### Several nodes sharing topics")
        .replace(":5501", &format!(":{p1}"))
        .replace(":5502", &format!(":{p2}"));
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_drift")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&dir)
        .env("PATH", path)
        .env_remove("DRIFT_URL")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script}\nstdout: {stdout}\nstderr: {stderr}"
    );
    // The publish's id, then the message read on the other node, twice.
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].ends_with("-1"), "{stdout}");
    assert_eq!(&lines[1..], ["order 1", "order 1"], "{stdout}");
}

/// `drift serve --h2c --listen 127.0.0.1:PORT --redis URL`, once listening.
#[cfg(feature = "redis")]
fn start_node(dir: &Path, port: u16, redis: &str) -> Running {
    let listen = format!("127.0.0.1:{port}");
    start(
        dir,
        &["serve", "--h2c", "--listen", &listen, "--redis", redis],
    )
}
