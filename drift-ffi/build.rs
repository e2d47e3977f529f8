//! Gives `libdrift.so` the SONAME `libdrift.so.<ABI>`, so programs linked
//! against it record the ABI they were built for and an installed
//! `libdrift.so.0` can be replaced by any later build of the same ABI
//! (`scripts/install-c` reads the SONAME back to name the installed file).

/// The ABI version of the C library: raise it on any change to
/// `include/drift.h` that breaks a program built against the previous one.
const ABI_VERSION: u32 = 0;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // SONAMEs are an ELF thing; other platforms keep the default.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdrift.so.{ABI_VERSION}");
    }
}
