//! What `drift sub` says on standard error while the server is away and
//! when it is back: the real `drift sub` against the real `drift serve`,
//! stopped and started again on the same port.

mod serve;
#[path = "../../drift-core/tests/support/timing.rs"]
#[allow(dead_code)]
mod timing;

use std::process::Stdio;
use std::time::Duration;

use timing::within;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

const LINE_TIMEOUT: Duration = Duration::from_secs(15);

/// `drift serve --h2c --listen LISTEN` (history in memory, so a restart
/// makes a new epoch), and its URL.
async fn serve(listen: &str) -> (Child, String) {
    serve::start(&mut serve::command(["--h2c", "--listen", listen])).await
}

/// `drift ARGS --url URL` with no DRIFT_* from the environment.
fn drift(url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_drift"));
    cmd.args(args).arg("--url").arg(url);
    for var in ["DRIFT_URL", "DRIFT_CACERT", "DRIFT_INSECURE"] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn publish(url: &str, topic: &str, message: &str) -> String {
    let out = drift(url, &["pub", topic, message]).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut Lines<R>, what: &str) -> String {
    match tokio::time::timeout(LINE_TIMEOUT, lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        other => panic!("no line on {what} of drift sub: {other:?}"),
    }
}

async fn signal(child: &Child, name: &str) {
    let pid = child.id().expect("running").to_string();
    let sent = Command::new("kill")
        .args([name, &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
}

/// The server stops (`shutdown`), stays away for several retries, and comes
/// back with a new epoch: `drift sub` says each of these once, in words,
/// and goes on printing messages.
#[tokio::test]
async fn sub_tells_the_end_the_retries_once_and_the_gap_after_a_restart() {
    within(async {
        let (mut server, url) = serve("127.0.0.1:0").await;
        let listen = url.trim_start_matches("http://").to_owned();
        let mut sub = drift(&url, &["sub", "news", "--verbose"]).spawn().unwrap();
        let mut out: Lines<BufReader<ChildStdout>> =
            BufReader::new(sub.stdout.take().unwrap()).lines();
        let mut err: Lines<BufReader<ChildStderr>> =
            BufReader::new(sub.stderr.take().unwrap()).lines();
        let line = next_line(&mut err, "stderr").await;
        assert!(line.starts_with("drift: subscribed to "), "{line}");
        let first = publish(&url, "news", "one").await;
        assert_eq!(next_line(&mut out, "stdout").await, "one");

        signal(&server, "-TERM").await;
        assert!(server.wait().await.unwrap().success());
        assert_eq!(
            next_line(&mut err, "stderr").await,
            "drift: subscription ended: shutdown (resuming)"
        );

        // While away, the port takes connections and drops them: each is
        // one retry of `drift sub`, counted here.
        let away = TcpListener::bind(&listen).await.unwrap();
        for _ in 0..3 {
            drop(away.accept().await.unwrap());
        }
        drop(away);
        let line = next_line(&mut err, "stderr").await;
        assert!(line.starts_with("drift: disconnected, retrying"), "{line}");

        let (_server, url) = serve(&listen).await;
        assert_eq!(next_line(&mut err, "stderr").await, "drift: reconnected");
        assert_eq!(
            next_line(&mut err, "stderr").await,
            format!(
                "drift: server restarted or topic re-created (new epoch): \
                 messages after {first} may be missing"
            )
        );
        publish(&url, "news", "two").await;
        assert_eq!(next_line(&mut out, "stdout").await, "two");

        signal(&sub, "-INT").await;
        let status = tokio::time::timeout(LINE_TIMEOUT, sub.wait())
            .await
            .expect("drift sub exits")
            .unwrap();
        assert!(status.success(), "{status}");
        // Nothing more was said: the retries were told once.
        assert_eq!(
            tokio::time::timeout(LINE_TIMEOUT, err.next_line())
                .await
                .unwrap()
                .unwrap(),
            None
        );
    })
    .await;
}
