//! The committed header `include/drift.h` must be exactly what the pinned
//! cbindgen generates from this crate, so a change to the C API that forgot
//! the header fails `cargo test`. Regenerate it with
//!
//! ```sh
//! DRIFT_BLESS=1 cargo test -p drift-ffi --test header
//! ```
//!
//! The header must also compile cleanly as C99, C11 and C++17 with
//! `-Wall -Wextra -Wpedantic -Werror`, give every enumerator a fixed number
//! and wrap its declarations in `extern "C"` for C++ (that C++ can link
//! against the library is checked by `tests/c_api.rs`).

use std::path::PathBuf;
use std::process::Command;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn header_path() -> PathBuf {
    crate_dir().join("../include/drift.h")
}

/// The version macros, made from Cargo.toml so they can never disagree.
fn version_defines() -> String {
    format!(
        "\n#define DRIFT_VERSION_MAJOR {}\n#define DRIFT_VERSION_MINOR {}\n#define DRIFT_VERSION_PATCH {}\n#define DRIFT_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    )
}

fn generate() -> String {
    let dir = crate_dir();
    let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .expect("drift-ffi/cbindgen.toml must parse");
    config.after_includes = Some(version_defines());
    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen must be able to generate the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn committed_header_is_up_to_date() {
    let fresh = generate();
    let path = header_path();
    if std::env::var_os("DRIFT_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &fresh).expect("cannot write include/drift.h");
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != fresh {
        let first_diff = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(fresh.lines().count()));
        panic!(
            "include/drift.h is stale: it differs from what cbindgen generates from drift-ffi \
             (first difference at line {}).\n  committed: {:?}\n  generated: {:?}\n\
             Regenerate it with: DRIFT_BLESS=1 cargo test -p drift-ffi --test header",
            first_diff + 1,
            committed.lines().nth(first_diff).unwrap_or("<end of file>"),
            fresh.lines().nth(first_diff).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn header_declares_the_crate_version() {
    let header = std::fs::read_to_string(header_path()).expect("include/drift.h exists");
    for (name, value) in [
        ("DRIFT_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("DRIFT_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("DRIFT_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        let line = format!("#define {name} {value}");
        assert!(header.contains(&line), "include/drift.h lacks {line:?}");
    }
}

/// Compiles a translation unit that includes the header with `compiler`.
fn compile_tu(compiler: &str, std: &str, ext: &str, extra: &[&str]) {
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("drift-header");
    std::fs::create_dir_all(&out_dir).unwrap();
    // One file per standard and process: the tests run in parallel, and
    // the target directory may be shared by several checkouts.
    let stem = format!("tu-{std}-{}", std::process::id());
    let src = out_dir.join(format!("{stem}.{ext}"));
    // Use a few declarations so that the compiler checks them, not only
    // parses them.
    std::fs::write(
        &src,
        "#include \"drift.h\"\n\
         #include <stdio.h>\n\
         int main(void) {\n\
           drift_status s = DRIFT_STATUS_OK;\n\
           drift_kind k = DRIFT_KIND_MESSAGE;\n\
           drift_message_callback cb = NULL;\n\
           (void)cb; (void)k;\n\
           printf(\"%s %s %s %d.%d.%d\\n\", drift_status_str(s), drift_version(),\n\
                  DRIFT_VERSION_STRING, DRIFT_VERSION_MAJOR, DRIFT_VERSION_MINOR,\n\
                  DRIFT_VERSION_PATCH);\n\
           return 0;\n\
         }\n",
    )
    .unwrap();
    let include = crate_dir().join("../include");
    let output = Command::new(compiler)
        .arg(format!("-std={std}"))
        .args(["-Wall", "-Wextra", "-Wpedantic", "-Werror", "-c"])
        .args(extra)
        .arg("-I")
        .arg(&include)
        .arg(&src)
        .arg("-o")
        .arg(out_dir.join(format!("{stem}.o")))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(
        output.status.success(),
        "{compiler} -std={std} failed on include/drift.h:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn have(compiler: &str) -> bool {
    Command::new(compiler).arg("--version").output().is_ok()
}

#[test]
fn header_compiles_as_c99() {
    compile_tu(
        &std::env::var("CC").unwrap_or_else(|_| "cc".into()),
        "c99",
        "c",
        &[],
    );
}

#[test]
fn header_compiles_as_c11() {
    compile_tu(
        &std::env::var("CC").unwrap_or_else(|_| "cc".into()),
        "c11",
        "c",
        &[],
    );
}

#[test]
fn header_compiles_as_cpp17() {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    assert!(have(&cxx), "no C++ compiler ({cxx}) found; set CXX");
    compile_tu(&cxx, "c++17", "cpp", &["-x", "c++"]);
}

/// Every enumerator of every enum is `NAME = NUMBER,`: the numbers are the
/// ABI, so none may depend on its position in the list.
#[test]
fn every_enumerator_has_a_fixed_number() {
    let header = std::fs::read_to_string(header_path()).expect("include/drift.h exists");
    let mut enums = 0;
    for body in header.split("\nenum ").skip(1) {
        let name = body.split_whitespace().next().unwrap_or_default();
        let list = body
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once("};"))
            .map(|(list, _)| list)
            .unwrap_or_else(|| panic!("enum {name} has no body"));
        let mut in_comment = false;
        let mut enumerators = 0;
        for line in list.lines().map(str::trim) {
            if line.starts_with("/*") {
                in_comment = true;
            }
            let skip = in_comment || line.is_empty() || line.starts_with('#');
            if line.ends_with("*/") {
                in_comment = false;
            }
            if skip {
                continue;
            }
            let fixed = line
                .strip_suffix(',')
                .and_then(|l| l.split_once(" = "))
                .is_some_and(|(_, n)| n.parse::<u64>().is_ok());
            assert!(fixed, "enum {name}: {line:?} has no fixed number");
            enumerators += 1;
        }
        assert!(enumerators > 0, "enum {name} has no enumerators");
        enums += 1;
    }
    assert!(enums >= 4, "found only {enums} enums in include/drift.h");
}

/// Every function is declared inside `extern "C"` when compiled as C++:
/// the guard opens before the first prototype and closes after the last.
#[test]
fn declarations_are_inside_extern_c_guards() {
    let header = std::fs::read_to_string(header_path()).expect("include/drift.h exists");
    let open = "#ifdef __cplusplus\nextern \"C\" {\n#endif";
    let close = "#ifdef __cplusplus\n}  // extern \"C\"\n#endif";
    let start = header.find(open).expect("no opening extern \"C\" guard");
    let end = header.find(close).expect("no closing extern \"C\" guard");
    assert!(start < end);
    let first_fn = header
        .find("drift_version(void);")
        .expect("drift_version is declared");
    assert!(start < first_fn && first_fn < end);
    // Outside, a line ending in `);` can only be a function pointer type.
    let outside = header[..start].lines().chain(header[end..].lines());
    for line in outside.map(str::trim) {
        assert!(
            !line.ends_with(");") || line.starts_with("typedef") || line.starts_with('*'),
            "a prototype outside the extern \"C\" guards: {line:?}"
        );
    }
}
