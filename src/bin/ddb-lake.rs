//! `ddb-lake`: the transformation on your machine. No AWS is needed, except that `transform`
//! puts records back on the source stream, as the Lambda does, when a response would not fit.

use clap::{Parser, Subcommand};
use ddb_lake::lake::{cli as lake_cli, coverage, event_builder, schema_cli};
use ddb_lake::reingest::{fit_and_put_back, KinesisApi, ReingestError};
use ddb_lake::telemetry::logs;
use ddb_lake::{transform_event, Config, ConfigError, EventError};
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
    /// Load a DynamoDB export to S3 (DYNAMODB_JSON) into the lake: a full export's items as rows
    /// inserted at the export time, so the stream's later changes override them; an incremental
    /// export's changes as INSERT/MODIFY/REMOVE rows at their own change times. Either side may be
    /// on S3 (s3://BUCKET/PREFIX/, standard AWS configuration) or a local folder; data files are
    /// loaded in parallel, one per core.
    Backfill(lake_cli::BackfillArgs),
    /// Report, per table, the time the local lake covers from full exports, incremental exports
    /// and the stream, and any hole between them; fails when the current state may miss changes.
    Coverage(coverage::CoverageArgs),
    /// Print Glue table definitions (one TableInput per source table, for `aws glue
    /// create-table --table-input`) inferred from a local lake's rows, or from change records or
    /// a DynamoDB export made into rows as `replay` and `backfill` make them. README.md, "Use it
    /// with your own tables".
    Schema(schema_cli::SchemaArgs),
}

/// Why a command failed. `main` prints it on one line followed by every `source()` under it
/// (`ddb-lake: cannot read x.json: No such file or directory`).
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Setting(#[from] ConfigError),
    #[error("cannot read {what}")]
    Read {
        what: String,
        source: std::io::Error,
    },
    #[error("cannot write standard output")]
    Write(#[source] std::io::Error),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("the response does not fit and its records could not all be put back")]
    Reingest(#[from] ReingestError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot split the input into change records")]
    Input(#[from] ddb_lake::lake::input::InputError),
    #[error("{0}")]
    Lake(String),
    #[error(transparent)]
    Schema(#[from] schema_cli::SchemaError),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Replay(_) | Command::Backfill(_) | Command::Schema(_)
    ) && std::env::var_os("RUST_LOG").is_none()
    {
        // These print their own summary: per-batch log lines only when RUST_LOG asks for them.
        std::env::set_var("RUST_LOG", "warn");
    }
    logs::init_logging();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("ddb-lake: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Transform {
            file,
            reingest_timeout,
        } => {
            let config = Config::from_env()?;
            let event = read_input(file.as_ref())?;
            let started = Instant::now();
            let mut batch = transform_event(&event, &config)?;
            let budget = config.limits.max_response_bytes;
            if batch.response_len() > budget {
                // Only an oversize batch needs a runtime and the AWS SDK.
                let deadline = started + Duration::from_secs(reingest_timeout);
                let kinesis = KinesisApi::from_environment();
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(CliError::Runtime)?
                    .block_on(fit_and_put_back(
                        &mut batch, &event, budget, &kinesis, deadline,
                    ))?;
            }
            logs::log_batch(&batch, event.len(), started.elapsed());
            let response = batch.finish(budget)?;
            write_output(&response)
        }
        Command::FirehoseEvent { file } => {
            let records = read_input(file.as_ref())?;
            let event = event_builder::firehose_event(&records)?;
            write_output(&event)
        }
        Command::Replay(args) => lake_cli::replay(args).map_err(CliError::Lake),
        Command::Backfill(args) => lake_cli::backfill_command(args).map_err(CliError::Lake),
        Command::Coverage(args) => coverage::coverage_command(args).map_err(CliError::Lake),
        Command::Schema(args) => {
            let output = schema_cli::schema(&args)?;
            for warning in &output.warnings {
                eprintln!("ddb-lake: warning: {warning}");
            }
            write_output(&output.json)
        }
    }
}

fn read_input(file: Option<&PathBuf>) -> Result<Vec<u8>, CliError> {
    match file {
        Some(path) => std::fs::read(path).map_err(|source| CliError::Read {
            what: path.display().to_string(),
            source,
        }),
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|source| CliError::Read {
                    what: "standard input".to_owned(),
                    source,
                })?;
            Ok(bytes)
        }
    }
}

fn write_output(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(CliError::Write)
}
