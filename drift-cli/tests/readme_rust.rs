//! The README's Rust examples, run as written: its commands make a new Cargo
//! program beside a clone and add drift-core and tokio to it; the client
//! example is built as its `src/main.rs` and run from the server's directory
//! against `drift serve`; then the embedding example is built and runs until
//! Ctrl-C (SIGINT). Only the port and the clone's path differ from the text:
//! an ephemeral port, and this repository.
//!
//! The program is built by a cargo of its own in `target/readme-rust` (a
//! second build of drift-core with its default features; the outer cargo
//! holds the workspace's target directory while the tests run), offline, so
//! `cargo add` and the build take the crates this workspace already fetched.

mod readme_blocks;
mod serve;
#[path = "../../drift-core/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use readme_blocks::{blocks, readme};
use support::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

/// The nested builds: drift-core and its dependencies, from nothing, on two
/// busy cores.
const BUILD: Duration = Duration::from_secs(20 * 60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// `bash -c SCRIPT` in `dir`, with the nested cargo's environment.
fn bash(script: &str, dir: &Path) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg("-ec").arg(script).current_dir(dir);
    cargo_env(&mut cmd);
    cmd
}

fn cargo_env(cmd: &mut Command) {
    // The outer cargo's own variables would point the nested one at this
    // package; the nested build gets its own target directory.
    for (var, _) in std::env::vars_os() {
        let name = var.to_string_lossy();
        if name.starts_with("CARGO_") && name != "CARGO_HOME" {
            cmd.env_remove(&var);
        }
    }
    cmd.env("CARGO_TARGET_DIR", repo().join("target/readme-rust"))
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("RUSTFLAGS")
        .kill_on_drop(true);
}

async fn run_ok(mut cmd: Command, what: &str) -> String {
    let out = timeout(BUILD, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what}: no end within {BUILD:?}"))
        .expect("spawn");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn rust_examples_build_and_run_as_written() {
    let readme = readme();
    let commands = blocks(&readme, "## The Rust client", "sh");
    let [install, run] = commands[..] else {
        panic!("the Rust client's section has two shell blocks: {commands:?}");
    };
    let [client_main] = blocks(&readme, "## The Rust client", "rust,no_run")[..] else {
        panic!("the Rust client's section has one Rust block");
    };
    let [embed_main] = blocks(&readme, "## Embedding the server in Rust", "rust,no_run")[..] else {
        panic!("the embedding section has one Rust block");
    };
    assert!(install.contains("--path ../drift/drift-core"), "{install}");

    // Beside the clone: `drift/`, where the server runs and keeps its
    // certificate, and the program the README makes.
    let top = TempDir::new("readme-rust");
    let clone = top.path().join("drift");
    std::fs::create_dir(&clone).unwrap();
    let program = top.path().join("hello-drift");
    let drift_core = repo().join("drift-core");
    let install = install.replace("../drift/drift-core", &drift_core.display().to_string());
    run_ok(bash(&install, top.path()), "the install commands").await;
    let manifest = std::fs::read_to_string(program.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("drift-core") && manifest.contains("tokio"),
        "{manifest}"
    );

    // The client, against `drift serve` with its defaults but the port.
    let (_server, url) =
        serve::start(serve::command(["--listen", "127.0.0.1:0"]).current_dir(&clone)).await;
    let port = url
        .rsplit(':')
        .next()
        .expect("a port")
        .trim_end_matches('/');
    std::fs::write(
        program.join("src/main.rs"),
        client_main.replace(":5500", &format!(":{port}")),
    )
    .unwrap();
    // `run` starts in the program's directory, where `install` ended.
    let printed = run_ok(bash(run, &program), "the client example").await;
    assert!(printed.contains("hello from Rust"), "printed: {printed}");

    // The embedding example serves until SIGINT, then exits cleanly.
    std::fs::write(program.join("src/main.rs"), embed_main).unwrap();
    let mut cmd = Command::new("cargo");
    cmd.args(["run", "-q"])
        .current_dir(&program)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cargo_env(&mut cmd);
    let mut embedded = cmd.spawn().expect("cargo run");
    let mut lines = BufReader::new(embedded.stdout.take().unwrap()).lines();
    let listening = timeout(BUILD, lines.next_line())
        .await
        .expect("the embedded server starts")
        .expect("read its output")
        .unwrap_or_default();
    let url = listening
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("printed {listening:?}"));
    let ping = ping_h2c(url).await;
    assert_eq!(ping, "pong");
    // `cargo run` execs the program on Unix, so this is the program itself:
    // Ctrl-C, as a terminal sends it.
    let pid = embedded.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -INT {pid}");
    let exit = timeout(Duration::from_secs(30), embedded.wait())
        .await
        .expect("it stops after Ctrl-C")
        .expect("wait");
    assert!(exit.success(), "{exit}");
}

/// `GET /ping` over h2c (curl): the answer's body.
async fn ping_h2c(url: &str) -> String {
    let out = timeout(
        Duration::from_secs(30),
        Command::new("curl")
            .args(["-s", "--http2-prior-knowledge", &format!("{url}/ping")])
            .output(),
    )
    .await
    .expect("curl answers")
    .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
