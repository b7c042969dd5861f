//! The integration tests that need nothing but Rust, as one test binary: on a small machine
//! linking is most of a test build, so each suite is a module here rather than a binary of its
//! own. The suites that need a local AWS API server are the `moto` test binary (tests/moto/),
//! built with `--features moto-tests` (scripts/test.sh turns it on).

#[path = "../common/mod.rs"]
mod common;
// The benchmarks' event generator, checked by `benchmark_input`; the bench uses the rest.
#[allow(dead_code)]
#[path = "../../examples/bench_event/event.rs"]
mod bench_event;

mod backfill;
mod benchmark_input;
mod cli;
mod contract;
mod lambda_binary;
mod properties;
mod replay;
mod response_size;
mod sample_records;
mod schema;

/// Without the feature the moto suites are not built: this says so in the test output (an
/// ignored test with its reason) instead of leaving them out silently.
#[cfg(not(feature = "moto-tests"))]
#[test]
#[ignore = "skipped: the Kinesis re-ingest, fault and S3 backfill suites (tests/moto/) need moto_server; \
            run scripts/test.sh, or cargo test --features moto-tests with moto_server on PATH"]
fn moto_server_suites() {
    panic!(
        "the tests/moto/ suites are not built without the moto-tests feature: run \
         scripts/test.sh, or cargo test --features moto-tests with moto_server on PATH"
    );
}
