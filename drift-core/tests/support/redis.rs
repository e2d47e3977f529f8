//! A real Redis server (Debian's `redis-server`) on a free loopback port,
//! in a directory of its own, for the tests of the shared store: started,
//! killed, restarted (empty, or from a snapshot saved earlier) at will.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};

use super::fs::TempDir;

/// A `redis-server` process, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
    /// Extra `redis-server` arguments, kept for restarts.
    args: Vec<String>,
}

impl RedisServer {
    /// A new, empty server on a free port.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// As [`RedisServer::start`], with extra `redis-server` arguments
    /// (such as `--requirepass`), in which `{port}` stands for the port
    /// chosen (for `--port 0 --tls-port {port}`: later arguments win).
    pub fn start_with(args: &[&str]) -> RedisServer {
        let dir = TempDir::new("redis");
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = launch(&dir, port, &args) {
                return RedisServer {
                    child: Some(child),
                    port,
                    dir,
                    args,
                };
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL): clients see the connection drop.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port: empty, or with the snapshot last
    /// written by [`RedisServer::save`] (`dump.rdb` in its directory).
    pub fn restart(&mut self) {
        self.kill();
        match launch(&self.dir, self.port, &self.args) {
            Some(child) => self.child = Some(child),
            None => panic!("redis-server did not start again on port {}", self.port),
        }
    }

    /// Forgets the snapshot, so that the next restart is empty.
    pub fn forget_snapshot(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("dump.rdb"));
    }

    /// Writes a snapshot now (`SAVE`).
    pub fn save(&self) {
        assert_eq!(self.cli(&["SAVE"]).trim(), "OK", "SAVE");
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `redis-cli` with `args` against the server; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs (Debian's redis-tools)");
        assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("its address").port()
}

/// Starts redis-server and waits for its "Ready to accept connections"
/// line; `None` when it exited first (the port was taken meanwhile).
fn launch(dir: &TempDir, port: u16, args: &[String]) -> Option<Child> {
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--logfile", ""])
        .args(args.iter().map(|a| a.replace("{port}", &port.to_string())))
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run redis-server ({e}): install Debian's redis-server (run-tests.sh does)"
            )
        });
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    };
    let mut lines = BufReader::new(stdout).lines();
    let ready = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("Ready to accept connections"));
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    // Keep reading its log so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Some(child)
}
