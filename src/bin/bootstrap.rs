//! The Firehose transformation Lambda. Settings are read once at start; every invocation is one
//! call of the same pure transformation the `ddb-lake` command runs. Only when a response would
//! be too large does it do I/O: the records that do not fit go back on the source stream.

use ddb_lake::config::Config;
use ddb_lake::firehose::transform_event;
use ddb_lake::metrics::InvocationMetrics;
use ddb_lake::reingest::{deadline_from_epoch_millis, fit_and_put_back, KinesisApi};
use ddb_lake::report;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time kept back from the invocation's deadline to send the answer (or the error) after
/// putting records back.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);

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
    // Loads nothing until an oversize batch needs it: cold starts stay cheap.
    let kinesis = &KinesisApi::from_environment();
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move { handle(event, config, kinesis).await },
    ))
    .await
}

/// One invocation: the event's bytes in, the response's bytes out (as raw JSON, so the runtime
/// sends them without re-encoding).
async fn handle(
    event: LambdaEvent<Box<RawValue>>,
    config: &Config,
    kinesis: &KinesisApi,
) -> Result<Box<RawValue>, Error> {
    let started = Instant::now();
    let bytes = event.payload.get().as_bytes();
    let mut batch = transform_event(bytes, config)?;
    let deadline = deadline_from_epoch_millis(event.context.deadline, ANSWER_MARGIN);
    if let Err(e) = fit_and_put_back(
        &mut batch,
        bytes,
        config.max_response_bytes,
        kinesis,
        deadline,
    )
    .await
    {
        // The failed records' reasons are logged whatever happens to the invocation.
        report::log_batch(&batch, bytes.len(), started.elapsed());
        tracing::error!(
            invocation_id = batch.invocation_id.as_deref().unwrap_or(""),
            records = batch.outcomes.len(),
            error = %e,
            "the response does not fit and its records could not all be put back: failing the invocation"
        );
        return Err(e.into());
    }
    let elapsed = started.elapsed();
    report::log_batch(&batch, bytes.len(), elapsed);
    let metrics = InvocationMetrics::of(&batch, bytes.len(), elapsed);
    emit(&metrics.emf_line(&event.context.env_config.function_name, now_ms()));
    let response = batch.finish(config.max_response_bytes)?;
    Ok(RawValue::from_string(String::from_utf8(response)?)?)
}

/// Standard output goes to CloudWatch Logs, where an EMF line becomes metrics. A failed write
/// loses a data point, not the batch.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
