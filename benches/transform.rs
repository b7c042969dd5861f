//! Throughput of the whole transformation (event bytes → response bytes), in MB/s and records/s,
//! over a 6 MB Firehose event and over a small batch.
//!
//! The 6 MB event is the file `BENCH_EVENT` if set, else generated in memory by the repository's
//! generator (examples/bench_event/event.rs, seed 1): the event `scripts/bench.sh` writes.

// Shared with the example that writes the event to a file (scripts/bench.sh).
#[allow(dead_code)]
#[path = "../examples/bench_event/event.rs"]
mod bench_event;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ddb_lake::Config;
use ddb_lake::{transform_event, FirehoseEvent};
use std::hint::black_box;
use std::path::Path;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn large_event() -> Vec<u8> {
    if let Ok(path) = std::env::var("BENCH_EVENT") {
        return std::fs::read(&path).unwrap_or_else(|e| panic!("BENCH_EVENT={path}: {e}"));
    }
    bench_event::firehose_event(bench_event::DEFAULT_BYTES, 1).bytes
}

fn bench(c: &mut Criterion) {
    let config = Config::default();
    let small = std::fs::read(manifest_dir().join("sample-records/firehose-event.json")).unwrap();
    let large = large_event();
    for (name, event) in [("6MB-event", &large), ("small-batch", &small)] {
        let records = FirehoseEvent::parse(event).unwrap().records.len() as u64;
        let mut group = c.benchmark_group(name);
        group.sample_size(if name == "6MB-event" { 20 } else { 100 });
        for throughput in [
            Throughput::Bytes(event.len() as u64),
            Throughput::Elements(records),
        ] {
            let unit = if matches!(throughput, Throughput::Bytes(_)) {
                "bytes"
            } else {
                "records"
            };
            group.throughput(throughput);
            group.bench_with_input(BenchmarkId::new("transform", unit), event, |b, event| {
                b.iter(|| {
                    let batch = transform_event(black_box(event), &config).unwrap();
                    black_box(batch.finish(usize::MAX).unwrap())
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
