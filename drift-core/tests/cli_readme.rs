//! The README's `drift pub` / `drift sub` examples, run as written against
//! the real `drift serve` with its defaults (only the port differs: it is
//! passed as `DRIFT_URL`, which the examples leave to its default).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The README section whose shell block is run.
const HEADING: &str = "## Publish and subscribe from the command line";

/// Kills the server when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn readme() -> String {
    // DRIFT_README lets the section be checked before it is in README.md.
    let path = std::env::var_os("DRIFT_README")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"));
    std::fs::read_to_string(&path).unwrap()
}

/// The shell block of `heading` as one script: comments dropped, and each
/// `drift sub` that would follow forever given 3 seconds (`timeout` exits 124).
fn script(readme: &str, heading: &str) -> String {
    let section = readme
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("README has no section {heading:?}"));
    let block = section
        .split("```sh")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
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

fn start_server(dir: &Path, port: u16) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_drift"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("DRIFT_LISTEN")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start drift serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
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

#[test]
fn cli_examples_run_verbatim() {
    let script = script(&readme(), HEADING);
    let dir = std::env::temp_dir().join(format!("drift-cli-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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

    // What the examples promise: ids from --verbose, JSON lines, then the
    // follow mode's plain lines (history replayed first).
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2 + 3 + 3, "{stdout}");
    assert!(
        lines[0].ends_with("-2") && lines[1].ends_with("-3"),
        "{stdout}"
    );
    for (line, data) in lines[2..5].iter().zip(["hello", "one", "two"]) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["data"], data);
        assert!(v["id"].as_str().unwrap().contains('-'));
    }
    assert_eq!(&lines[5..], ["hello", "one", "two"]);
}
