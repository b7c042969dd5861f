//! The Firehose transformation Lambda. Settings are read once at start; every invocation is one
//! call of the same pure transformation the `ddb-lake` command runs. Only when a response would
//! be too large does it do I/O: the records that do not fit go back on the source stream.

use ddb_lake::reingest::{deadline_instant, fit_and_put_back, KinesisApi, ReingestError};
use ddb_lake::telemetry::{logs, metrics::InvocationMetrics};
use ddb_lake::{transform_event, Config, EventError};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::value::RawValue;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

/// Time kept back from the invocation's deadline to send the answer (or the error) after
/// putting records back.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    logs::init_logging();
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
async fn serve(config: &Config) -> Result<(), lambda_runtime::Error> {
    // Loads nothing until an oversize batch needs it: cold starts stay cheap.
    let kinesis = &KinesisApi::from_environment();
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move { handle(event, config, kinesis).await },
    ))
    .await
}

/// Why an invocation fails. Firehose retries it, then delivers the batch to the error prefix;
/// the Lambda reports it with a stable `errorType` (the names below), not a Rust type name.
#[derive(Debug, thiserror::Error)]
enum InvocationError {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Reingest(#[from] ReingestError),
}

impl From<InvocationError> for Diagnostic {
    fn from(e: InvocationError) -> Diagnostic {
        let error_type = match &e {
            InvocationError::Event(e) => e.error_type(),
            InvocationError::Reingest(e) => e.error_type(),
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// One invocation: the event's bytes in, the response's bytes out (as raw JSON, so the runtime
/// sends them without re-encoding).
async fn handle(
    event: LambdaEvent<Box<RawValue>>,
    config: &Config,
    kinesis: &KinesisApi,
) -> Result<Box<RawValue>, InvocationError> {
    let started = Instant::now();
    let bytes = event.payload.get().as_bytes();
    let mut batch = transform_event(bytes, config)?;
    let deadline = deadline_instant(event.context.deadline(), ANSWER_MARGIN);
    let budget = config.limits.max_response_bytes;
    if let Err(e) = fit_and_put_back(&mut batch, bytes, budget, kinesis, deadline).await {
        // The failed records' reasons are logged whatever happens to the invocation.
        logs::log_batch(&batch, bytes.len(), started.elapsed());
        tracing::error!(
            invocation_id = batch.invocation_id.as_deref().unwrap_or(""),
            records = batch.outcomes.len(),
            error = %e,
            "the response does not fit and its records could not all be put back: failing the invocation"
        );
        return Err(e.into());
    }
    let elapsed = started.elapsed();
    logs::log_batch(&batch, bytes.len(), elapsed);
    let metrics = InvocationMetrics::of(&batch, bytes.len(), elapsed);
    emit(&metrics.emf_line(&event.context.env_config.function_name, SystemTime::now()));
    let response = batch.finish(budget)?;
    // The response is JSON we wrote ourselves: its bytes are UTF-8 and one JSON value.
    let text = String::from_utf8(response)
        .map_err(|_| EventError::NotAFirehoseEvent("the response is not UTF-8".to_owned()))?;
    RawValue::from_string(text).map_err(|e| {
        InvocationError::Event(EventError::NotAFirehoseEvent(format!(
            "the response is not JSON: {e}"
        )))
    })
}

/// Standard output goes to CloudWatch Logs, where an EMF line becomes metrics. A failed write
/// loses a data point, not the batch.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
