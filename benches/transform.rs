//! Throughput of the whole transformation (event bytes → response bytes), in MB/s and records/s,
//! over a 6 MB Firehose event and over a small batch.
//!
//! The 6 MB event is `BENCH_EVENT` if set, else generated once into `target/` by the shared
//! generator (`../shared/bench/make_event.py`) when it is there, else built from the sample
//! records. `scripts/bench.sh` sets `BENCH_EVENT`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ddb_lake::lake::event_builder::firehose_event;
use ddb_lake::Config;
use ddb_lake::{transform_event, FirehoseEvent};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn large_event() -> Vec<u8> {
    if let Ok(path) = std::env::var("BENCH_EVENT") {
        return std::fs::read(&path).unwrap_or_else(|e| panic!("BENCH_EVENT={path}: {e}"));
    }
    let cached = manifest_dir().join("target/bench-event-6mb.json");
    if let Ok(bytes) = std::fs::read(&cached) {
        return bytes;
    }
    let generator = manifest_dir().join("../shared/bench/make_event.py");
    if generator.exists() {
        let status = Command::new("python3")
            .arg(&generator)
            .arg(&cached)
            .status();
        if status.is_ok_and(|s| s.success()) {
            return std::fs::read(&cached).unwrap();
        }
    }
    from_samples(&cached)
}

/// The sample change records, repeated to just under 6 MB of event.
fn from_samples(cache: &PathBuf) -> Vec<u8> {
    let records =
        std::fs::read(manifest_dir().join("sample-records/change-records.jsonl")).unwrap();
    let mut many = Vec::new();
    loop {
        many.extend_from_slice(&records);
        let event = firehose_event(&many).unwrap();
        if event.len() > 5_400_000 {
            let _ = std::fs::write(cache, &event);
            return event;
        }
    }
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
