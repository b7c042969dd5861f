//! `ddb-lake`: the transformation on your machine, with no AWS at all.

use clap::{Parser, Subcommand};
use ddb_lake::config::Config;
use ddb_lake::firehose::transform_event;
use ddb_lake::{report, sample_event};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "ddb-lake",
    version,
    about = "DynamoDB change records to a flat, queryable data lake"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Transform a Firehose transformation event and print the Lambda's response, with the
    /// Lambda's settings (FLATTEN_SEPARATOR, METADATA_PREFIX, LIST_MODE, MAX_RESPONSE_BYTES).
    Transform {
        /// The event as JSON; standard input when omitted.
        file: Option<PathBuf>,
    },
    /// Wrap change records (newline-delimited JSON or a JSON array, as Kinesis Data Streams for
    /// DynamoDB writes them) into a Firehose transformation event, to feed `transform`.
    FirehoseEvent {
        /// The change records; standard input when omitted.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    report::init_logging();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ddb-lake: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Transform { file } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            let event = read_input(file.as_ref())?;
            let started = Instant::now();
            let batch = transform_event(&event, &config).map_err(|e| e.to_string())?;
            report::log_batch(&batch, event.len(), started.elapsed());
            let response = batch
                .finish(config.max_response_bytes)
                .map_err(|e| e.to_string())?;
            write_output(&response)
        }
        Command::FirehoseEvent { file } => {
            let records = read_input(file.as_ref())?;
            let event = sample_event::firehose_event(&records).map_err(|e| e.to_string())?;
            write_output(&event)
        }
    }
}

fn read_input(file: Option<&PathBuf>) -> Result<Vec<u8>, String> {
    match file {
        Some(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            Ok(bytes)
        }
    }
}

fn write_output(bytes: &[u8]) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write standard output: {e}"))
}
