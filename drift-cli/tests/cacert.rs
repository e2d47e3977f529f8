//! `--cacert` with a certificate made by `openssl req -x509` and its
//! defaults, which mark it as a CA (`basicConstraints CA:TRUE`): the real
//! `drift serve --cert --key` serves it, and the real `drift pub` and `drift
//! sub` trust it as curl does. Uses the system's `openssl` (Debian's
//! ca-certificates depends on it) and `curl`.

mod serve;
#[path = "../../drift-core/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use support::{TempDir, within};
use tokio::process::{Child, Command};

/// `openssl req -x509` with its defaults but for a P-256 key and the names
/// of loopback; the certificate and key paths.
async fn openssl_self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}-cert.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "30"])
        .args(["-subj", "/CN=localhost", "-addext"])
        .arg("subjectAltName=DNS:localhost,IP:127.0.0.1")
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // What this test is about: openssl marked it as a CA.
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .await
        .expect("run openssl x509");
    assert!(String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"));
    (cert, key)
}

/// `drift serve --cert CERT --key KEY` on an ephemeral port, and its URL.
async fn serve(cert: &Path, key: &Path) -> (Child, String) {
    let mut cmd = serve::command(["--listen", "127.0.0.1:0"]);
    cmd.arg("--cert").arg(cert).arg("--key").arg(key);
    serve::start(&mut cmd).await
}

/// `drift ARGS --url URL --cacert CA`, run to its end.
async fn drift(args: &[&str], url: &str, ca: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drift"))
        .args(args)
        .args(["--url", url, "--cacert"])
        .arg(ca)
        .env_remove("DRIFT_INSECURE")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run drift")
}

#[tokio::test]
async fn cacert_trusts_a_server_certificate_made_by_openssl_req_x509() {
    within(async {
        let dir = TempDir::new("cli-openssl");
        let (cert, key) = openssl_self_signed(dir.path(), "server").await;
        let (_server, url) = serve(&cert, &key).await;

        // curl accepts it: the behaviour to match.
        let curl = Command::new("curl")
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(&cert)
            .arg(format!("{url}/ping"))
            .output()
            .await
            .expect("run curl");
        assert_eq!(
            String::from_utf8_lossy(&curl.stdout),
            "pong",
            "{}",
            String::from_utf8_lossy(&curl.stderr)
        );

        // By IP address and by name, both in the certificate.
        let by_name = url.replace("127.0.0.1", "localhost");
        for (url, text) in [(&url, "by address"), (&by_name, "by name")] {
            let out = drift(&["pub", "news", text], url, &cert).await;
            assert!(
                out.status.success(),
                "drift pub {url}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = drift(&["sub", "news", "--history", "2", "-n", "2"], &url, &cert).await;
        assert!(
            out.status.success(),
            "drift sub: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "by address\nby name\n"
        );
    })
    .await
}

/// Another certificate of the same kind is not the server's: refused, on
/// one line that says why.
#[tokio::test]
async fn cacert_with_another_self_signed_ca_certificate_is_refused() {
    within(async {
        let dir = TempDir::new("cli-openssl-other");
        let (cert, key) = openssl_self_signed(dir.path(), "server").await;
        let (other, _) = openssl_self_signed(dir.path(), "other").await;
        let (_server, url) = serve(&cert, &key).await;

        for args in [&["pub", "news", "x"][..], &["sub", "news", "--no-resume"]] {
            let out = drift(args, &url, &other).await;
            assert!(!out.status.success(), "drift {args:?} succeeded");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
            assert!(
                stderr.contains("TLS handshake") && stderr.contains("UnknownIssuer"),
                "drift {args:?}: {stderr}"
            );
        }
    })
    .await
}
