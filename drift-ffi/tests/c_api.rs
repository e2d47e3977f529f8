//! Builds the C test programs in `tests/c/` with `cc` against
//! `include/drift.h` and both libraries (`libdrift.a` and `libdrift.so`),
//! runs them, and fails if a compile fails, a program exits non-zero or
//! does not report `0 failed`.
//!
//! With `DRIFT_VALGRIND=1` the `under_valgrind` test also runs the
//! dynamically linked programs under valgrind (memcheck) and fails on any
//! error or definite leak; `tests/c/valgrind.sh` does just that.
//!
//! `CC` picks the compiler (default `cc`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The libraries must be linked with these (from `cargo rustc -p drift-ffi
/// --lib --crate-type staticlib -- --print native-static-libs`).
const NATIVE_STATIC_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

/// Longest a test program may run (valgrind is much slower).
const RUN_TIMEOUT: Duration = Duration::from_secs(180);
const VALGRIND_TIMEOUT: Duration = Duration::from_secs(900);

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>`: this test binary lives in `target/<profile>/deps`,
/// which also handles `CARGO_TARGET_DIR` and `--release`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary is in target/<profile>/deps")
        .to_path_buf()
}

/// A directory with the `libdrift.a` and `libdrift.so` of this very build,
/// and `libdrift.so.0` (the library's SONAME, which the dynamically linked
/// programs load). `cargo test` compiles the library under test once with
/// all its crate types (cdylib, staticlib, rlib) into `target/<profile>/deps`,
/// links the rlib into this test, and leaves the C libraries there: unlike
/// `cargo build` it does not copy them up to `target/<profile>` (checked
/// with cargo 1.95), so the copies there may be stale or missing. The ones
/// in `deps/` always come from the same sources as this test; the directory
/// returned links to them under the names a linker and loader look for.
fn libraries() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let deps = profile_dir().join("deps");
        for lib in ["libdrift.a", "libdrift.so"] {
            assert!(
                deps.join(lib).exists(),
                "{} is missing: run this test through `cargo test -p drift-ffi`",
                deps.join(lib).display()
            );
        }
        let dir = out_dir().join("lib");
        std::fs::create_dir_all(&dir).unwrap();
        let soname = soname(&deps.join("libdrift.so"));
        for (name, target) in [
            ("libdrift.a", "libdrift.a"),
            ("libdrift.so", "libdrift.so"),
            (soname.as_str(), "libdrift.so"),
        ] {
            let link = dir.join(name);
            // Made already by an earlier run or another test process: it
            // points to the same file, as the directories are the same.
            match std::os::unix::fs::symlink(deps.join(target), &link) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    panic!("cannot link {}: {e}", link.display())
                }
                _ => {}
            }
        }
        dir
    })
}

/// The SONAME of a shared library (`readelf -d`), which drift-ffi/build.rs
/// sets to `libdrift.so.<ABI>`.
fn soname(lib: &Path) -> String {
    let out = Command::new("readelf")
        .arg("-d")
        .arg(lib)
        .output()
        .expect("cannot run readelf (binutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|line| line.contains("(SONAME)"))
        .and_then(|line| line.split('[').nth(1))
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("{} has no SONAME:\n{text}", lib.display()))
        .to_string()
}

#[test]
fn shared_library_soname_carries_the_abi_version() {
    assert_eq!(
        soname(&profile_dir().join("deps/libdrift.so")),
        "libdrift.so.0"
    );
}

/// Where the compiled C programs go.
fn out_dir() -> PathBuf {
    let dir = profile_dir().join("drift-ffi-c");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Link {
    Static,
    Dynamic,
}

/// Compiles `tests/c/<name>.c` and returns the executable.
fn compile(name: &str, link: Link) -> PathBuf {
    let lib_dir = libraries();
    let exe = out_dir().join(format!("{name}-{}", format!("{link:?}").to_lowercase()));
    let c_dir = crate_dir().join("tests/c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut cmd = Command::new(&cc);
    cmd.args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .arg("-I")
        .arg(crate_dir().join("../include"))
        .arg("-I")
        .arg(&c_dir)
        .arg(c_dir.join(format!("{name}.c")))
        .arg("-o")
        .arg(&exe);
    match link {
        Link::Static => {
            cmd.arg(lib_dir.join("libdrift.a")).args(NATIVE_STATIC_LIBS);
        }
        Link::Dynamic => {
            cmd.arg(format!("-L{}", lib_dir.display()))
                .arg("-ldrift")
                .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
                .arg("-lpthread");
        }
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(
        output.status.success(),
        "compiling {name}.c ({link:?}) failed:\n{:?}\n{}",
        cmd,
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

/// Runs `cmd`, killing it after `timeout`.
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    // Read the pipes on threads so a chatty program cannot block on them.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).ok();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut v).ok();
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Runs a compiled test program and checks its verdict.
fn run(exe: &Path, wrapper: &[&str], timeout: Duration) -> String {
    run_with(exe, wrapper, timeout, &[])
}

/// As [`run`], with these environment variables.
fn run_with(exe: &Path, wrapper: &[&str], timeout: Duration, envs: &[(&str, String)]) -> String {
    // DRIFT_C_WRAPPER (e.g. "strace -f -o /tmp/trace") prefixes every run,
    // for debugging.
    let extra = std::env::var("DRIFT_C_WRAPPER").unwrap_or_default();
    let wrapper: Vec<&str> = extra
        .split_whitespace()
        .chain(wrapper.iter().copied())
        .collect();
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.env("RUST_BACKTRACE", "1");
    cmd.envs(envs.iter().map(|(k, v)| (k, v)));
    // cargo test puts target/<profile> (with a libdrift.so from some earlier
    // `cargo build`) on LD_LIBRARY_PATH, which beats the program's RUNPATH:
    // make sure the dynamic programs load the library of this build.
    cmd.env_remove("LD_LIBRARY_PATH");
    let output = run_with_timeout(cmd, timeout);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let summary = stdout
        .lines()
        .find(|l| l.contains(" passed, "))
        .unwrap_or("")
        .to_string();
    assert!(
        output.status.success() && summary.ends_with(" 0 failed"),
        "{} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        exe.display(),
        output.status
    );
    println!("{summary}");
    stderr
}

#[test]
fn roundtrip_static() {
    run(&compile("roundtrip", Link::Static), &[], RUN_TIMEOUT);
}

#[test]
fn roundtrip_dynamic() {
    run(&compile("roundtrip", Link::Dynamic), &[], RUN_TIMEOUT);
}

#[test]
fn threads_static() {
    run(&compile("threads", Link::Static), &[], RUN_TIMEOUT);
}

#[test]
fn threads_dynamic() {
    run(&compile("threads", Link::Dynamic), &[], RUN_TIMEOUT);
}

#[test]
fn server_static() {
    run(&compile("server", Link::Static), &[], RUN_TIMEOUT);
}

#[test]
fn server_dynamic() {
    run(&compile("server", Link::Dynamic), &[], RUN_TIMEOUT);
}

/// The JWT secret file of drift-core's tests, and a token it signs that may
/// publish and subscribe to "news" for ten minutes.
fn auth_env() -> Vec<(&'static str, String)> {
    use drift_core::broker::auth::{MintRequest, mint_hs256, read_secret_file};
    let secret = crate_dir().join("../drift-core/tests/data/jwt/secret");
    let token = mint_hs256(
        &read_secret_file(&secret).unwrap(),
        &MintRequest {
            publish: vec!["news".into()],
            subscribe: vec!["news".into()],
            ttl: Some(Duration::from_secs(600)),
            ..MintRequest::default()
        },
    )
    .unwrap();
    vec![
        ("DRIFT_TEST_SECRET_FILE", secret.display().to_string()),
        ("DRIFT_TEST_TOKEN", token),
    ]
}

#[test]
fn auth_static() {
    run_with(
        &compile("auth", Link::Static),
        &[],
        RUN_TIMEOUT,
        &auth_env(),
    );
}

#[test]
fn auth_dynamic() {
    run_with(
        &compile("auth", Link::Dynamic),
        &[],
        RUN_TIMEOUT,
        &auth_env(),
    );
}

#[test]
fn examples_compile() {
    for name in ["publisher", "subscriber"] {
        let lib_dir = libraries();
        let exe = out_dir().join(format!("example-{name}"));
        let src = crate_dir().join(format!("../examples/c/{name}.c"));
        let output = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .arg("-I")
            .arg(crate_dir().join("../include"))
            .arg(&src)
            .arg(format!("-L{}", lib_dir.display()))
            .arg("-ldrift")
            .arg("-o")
            .arg(&exe)
            .output()
            .expect("cannot run cc");
        assert!(
            output.status.success(),
            "compiling examples/c/{name}.c failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A C++ program links against the library with the header alone (its
/// `extern "C"` guards keep the names unmangled) and calls into it.
#[test]
fn cpp_program_links_and_runs() {
    let lib_dir = libraries();
    let src = out_dir().join(format!("version-{}.cpp", std::process::id()));
    std::fs::write(
        &src,
        "#include \"drift.h\"\n\
         #include <cstdio>\n\
         #include <cstring>\n\
         int main() {\n\
           std::printf(\"%s\\n\", drift_version());\n\
           return std::strcmp(drift_version(), DRIFT_VERSION_STRING) == 0 ? 0 : 1;\n\
         }\n",
    )
    .unwrap();
    let exe = src.with_extension("");
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let output = Command::new(&cxx)
        .args(["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
        .arg("-I")
        .arg(crate_dir().join("../include"))
        .arg(&src)
        .arg(format!("-L{}", lib_dir.display()))
        .arg("-ldrift")
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cxx}: {e}"));
    assert!(
        output.status.success(),
        "compiling and linking C++ against libdrift failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut cmd = Command::new(&exe);
    cmd.env_remove("LD_LIBRARY_PATH");
    let output = run_with_timeout(cmd, RUN_TIMEOUT);
    let _ = std::fs::remove_file(&src);
    let _ = std::fs::remove_file(&exe);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim_end(),
        env!("CARGO_PKG_VERSION")
    );
}

/// Every program, dynamically linked, under valgrind: any memory error or
/// definite leak fails. Only with `DRIFT_VALGRIND=1` (it takes a while).
#[test]
fn under_valgrind() {
    if std::env::var_os("DRIFT_VALGRIND").is_none_or(|v| v != "1") {
        eprintln!("skipped: set DRIFT_VALGRIND=1 to run the C tests under valgrind");
        return;
    }
    let suppressions = crate_dir().join("tests/c/valgrind.supp");
    let supp_arg = format!("--suppressions={}", suppressions.display());
    for name in ["roundtrip", "threads", "server", "auth"] {
        let exe = compile(name, Link::Dynamic);
        let mut wrapper = vec![
            "valgrind",
            "--quiet",
            "--leak-check=full",
            "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite",
            "--error-exitcode=99",
            // The runtimes' threads may still be parked when main returns.
            "--fair-sched=yes",
        ];
        if suppressions.exists() {
            wrapper.push(&supp_arg);
        }
        let envs = if name == "auth" {
            auth_env()
        } else {
            Vec::new()
        };
        let stderr = run_with(&exe, &wrapper, VALGRIND_TIMEOUT, &envs);
        assert!(
            !stderr.contains("definitely lost") && !stderr.contains("Invalid "),
            "valgrind reported problems in {name}:\n{stderr}"
        );
        println!("{name}: valgrind clean");
    }
}
