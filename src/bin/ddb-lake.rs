//! `ddb-lake`: the transformation on your machine. No AWS is needed, except that `transform`
//! puts records back on the source stream, as the Lambda does, when a response would not fit.

use clap::{Parser, Subcommand};
use ddb_lake::config::Config;
use ddb_lake::firehose::transform_event;
use ddb_lake::reingest::{fit_and_put_back, KinesisApi};
use ddb_lake::{lake_cli, report, sample_event};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

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
    /// Like the Lambda, when the response would pass MAX_RESPONSE_BYTES it puts the records that
    /// do not fit back on the event's source Kinesis stream (standard AWS configuration:
    /// AWS_REGION is taken from the stream ARN, AWS_ENDPOINT_URL_KINESIS can point elsewhere).
    Transform {
        /// The event as JSON; standard input when omitted.
        file: Option<PathBuf>,
        /// How long putting records back may take, in seconds (the Lambda's is its deadline).
        #[arg(long, default_value_t = 60, value_name = "SECONDS")]
        reingest_timeout: u64,
    },
    /// Wrap change records (newline-delimited JSON, a JSON array, or DynamoDB Streams Lambda
    /// events {"Records": [...]}; as Kinesis Data Streams for DynamoDB writes them or as a
    /// DynamoDB stream delivers them) into a Firehose transformation event, to feed `transform`.
    /// DynamoDB Streams records are wrapped as an EventBridge Pipe delivers them (Direct PUT).
    FirehoseEvent {
        /// The change records; standard input when omitted.
        file: Option<PathBuf>,
    },
    /// Run change records (or Firehose events) through the transformation in Firehose-sized
    /// batches and write a local lake in the stacks' S3 layout, failed records under the error
    /// prefix; with the Lambda's settings.
    Replay(lake_cli::ReplayArgs),
    /// Load a DynamoDB export to S3 (DYNAMODB_JSON) into a local lake: each item a row as if
    /// inserted at the export time, so the stream's later changes override it.
    Backfill(lake_cli::BackfillArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Replay(_) | Command::Backfill(_))
        && std::env::var_os("RUST_LOG").is_none()
    {
        // These print their own summary: per-batch log lines only when RUST_LOG asks for them.
        std::env::set_var("RUST_LOG", "warn");
    }
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
        Command::Transform {
            file,
            reingest_timeout,
        } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            let event = read_input(file.as_ref())?;
            let started = Instant::now();
            let mut batch = transform_event(&event, &config).map_err(|e| e.to_string())?;
            if batch.response_len() > config.max_response_bytes {
                // Only an oversize batch needs a runtime and the AWS SDK.
                let deadline = started + Duration::from_secs(reingest_timeout);
                let kinesis = KinesisApi::from_environment();
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the async runtime: {e}"))?
                    .block_on(fit_and_put_back(
                        &mut batch,
                        &event,
                        config.max_response_bytes,
                        &kinesis,
                        deadline,
                    ))
                    .map_err(|e| e.to_string())?;
            }
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
        Command::Replay(args) => lake_cli::replay(args),
        Command::Backfill(args) => lake_cli::backfill_command(args),
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
