//! The Firehose transformation Lambda. Settings are read once at start; every invocation is one
//! call of the same pure transformation the `ddb-lake` command runs.

use ddb_lake::config::Config;
use ddb_lake::firehose::transform_event;
use ddb_lake::report;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    report::init_logging();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            // A bad setting stops the start, naming the variable, instead of failing every record.
            tracing::error!(error = %e, "not starting");
            return ExitCode::FAILURE;
        }
    };
    match serve(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn serve(config: &Config) -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            handle(event.payload.get().as_bytes(), config)
        },
    ))
    .await
}

/// One invocation: the event's bytes in, the response's bytes out (as raw JSON, so the runtime
/// sends them without re-encoding).
fn handle(event: &[u8], config: &Config) -> Result<Box<RawValue>, Error> {
    let started = Instant::now();
    let batch = transform_event(event, config)?;
    report::log_batch(&batch, event.len(), started.elapsed());
    let response = batch.finish(config.max_response_bytes)?;
    Ok(RawValue::from_string(String::from_utf8(response)?)?)
}
