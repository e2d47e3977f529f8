//! `drift._drift.cli(argv)`: the Rust `drift` command line, so that the
//! package's console script and `python -m drift` are that command, with
//! every subcommand and option, not a copy of it.

use pyo3::prelude::*;

/// Runs the `drift` command line `args` (the program's name first) without
/// the GIL; its exit status. It owns the process while it runs, as the
/// binary does: `serve` and `sub` stop on SIGINT and SIGTERM, and a
/// malformed command line exits at once with status 2.
#[pyfunction]
pub fn cli(py: Python<'_>, args: Vec<String>) -> u8 {
    py.detach(|| drift_cli::run(args))
}
