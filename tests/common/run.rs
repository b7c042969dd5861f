//! Running the built `ddb-lake` command in the tests: a backfill into a local lake, and the
//! checks on how a run ended.

use std::path::Path;
use std::process::{Command, Output};

/// `ddb-lake backfill EXPORT --lake LAKE [extra]`, with the transformation's default settings.
pub fn backfill(export: &Path, lake: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ddb-lake"))
        .arg("backfill")
        .arg(export)
        .arg("--lake")
        .arg(lake)
        .args(extra)
        .env_remove("FLATTEN_SEPARATOR")
        .env_remove("METADATA_PREFIX")
        .env_remove("LIST_MODE")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// The standard output of a run that must have succeeded.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The one line of a failed run, checked to be a clean message.
pub fn failure(out: Output) -> String {
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let line = stderr.trim().to_owned();
    assert!(line.starts_with("ddb-lake: "), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(!line.contains("panicked"), "{line}");
    line
}
