//! Writes the benchmarks' Firehose event (see event.rs) to a file; `scripts/bench.sh` runs it,
//! `cargo bench` builds the same event in memory.
//!
//! usage: cargo run --release --example bench_event -- OUT.json [--bytes 6000000] [--seed 1]

mod event;

use std::process::ExitCode;

const USAGE: &str = "usage: bench_event OUT.json [--bytes N] [--seed N]";

fn main() -> ExitCode {
    let mut out = None;
    let mut bytes = event::DEFAULT_BYTES;
    let mut seed: u64 = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let parsed = match arg.as_str() {
            "--bytes" => args.next().and_then(|v| v.parse().ok()).map(|v| bytes = v),
            "--seed" => args.next().and_then(|v| v.parse().ok()).map(|v| seed = v),
            _ if out.is_none() && !arg.starts_with('-') => Some(()),
            _ => None,
        };
        match parsed {
            None => {
                eprintln!("{USAGE} (at {arg:?})");
                return ExitCode::from(64);
            }
            Some(()) if !arg.starts_with('-') => out = Some(arg),
            Some(()) => {}
        }
    }
    let Some(out) = out else {
        eprintln!("{USAGE}");
        return ExitCode::from(64);
    };
    let event = event::firehose_event(bytes, seed);
    if let Err(e) = std::fs::write(&out, &event.bytes) {
        eprintln!("{out}: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "{out}: {} records, {} bytes",
        event.records,
        event.bytes.len()
    );
    ExitCode::SUCCESS
}
