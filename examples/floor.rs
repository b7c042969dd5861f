//! The floor for `scripts/bench.sh`: the least any implementation of the Lambda must do, with no
//! flattening at all: base64-decode every record, parse it into a `serde_json::Value`, serialize
//! it back, base64-encode it, and build the response.
//!
//! usage: cargo run --release --example floor -- EVENT.json > RESPONSE.json

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::io::Write;

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    records: Vec<Record<'a>>,
}

#[derive(Deserialize)]
struct Record<'a> {
    #[serde(rename = "recordId")]
    record_id: &'a str,
    data: &'a str,
}

#[derive(Serialize)]
struct Response<'a> {
    records: Vec<Out<'a>>,
}

#[derive(Serialize)]
struct Out<'a> {
    #[serde(rename = "recordId")]
    record_id: &'a str,
    result: &'static str,
    data: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: floor EVENT.json")?;
    let bytes = std::fs::read(path)?;
    let event: Event = serde_json::from_slice(&bytes)?;
    let mut records = Vec::with_capacity(event.records.len());
    for r in &event.records {
        let decoded = STANDARD.decode(r.data)?;
        let value: serde_json::Value = serde_json::from_slice(&decoded)?;
        let mut line = serde_json::to_vec(&value)?;
        line.push(b'\n');
        records.push(Out {
            record_id: r.record_id,
            result: "Ok",
            data: STANDARD.encode(&line),
        });
    }
    let out = serde_json::to_vec(&Response { records })?;
    std::io::stdout().lock().write_all(&out)?;
    Ok(())
}
