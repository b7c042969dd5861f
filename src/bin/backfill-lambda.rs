//! The backfill Lambda: the tasks of the Step Functions state machine in
//! `cloudformation/backfill.yaml` (`loadDataFile`, one data file of a DynamoDB export into the
//! lake, with the code `ddb-lake backfill` runs; `summarize`, the whole backfill's figures), as
//! described in [`ddb_lake::lake::backfill_task`]. Settings (FLATTEN_SEPARATOR, METADATA_PREFIX,
//! LIST_MODE) are read once at start, as the transformation Lambda reads them, so backfilled
//! rows have the same columns as streamed ones.
//!
//! A failed task fails the invocation with the task's stable code as the error type (Step
//! Functions shows it, and the state machine retries on it).

use ddb_lake::lake::backfill_task::{run, Task};
use ddb_lake::lake::store::{client_from_environment, S3Access};
use ddb_lake::telemetry::logs as report;
use ddb_lake::Config;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

fn main() -> ExitCode {
    report::init_logging();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            // A bad setting stops the start, naming the variable, instead of failing every file.
            tracing::error!(error = %e, "not starting");
            return ExitCode::FAILURE;
        }
    };
    match serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn serve(config: Config) -> Result<(), lambda_runtime::Error> {
    let client = client_from_environment().await;
    let shared = Arc::new((config, client));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let shared = shared.clone();
        async move { handle(event, shared).await }
    }))
    .await
}

/// One task. The work is blocking (reading, parsing, compressing; S3 calls waited for), so it
/// runs on a blocking thread while this runtime drives the S3 connections.
async fn handle(
    event: LambdaEvent<Value>,
    shared: Arc<(Config, aws_sdk_s3::Client)>,
) -> Result<Value, Diagnostic> {
    let task: Task = serde_json::from_value(event.payload).map_err(|e| Diagnostic {
        error_type: "BadInput".to_owned(),
        error_message: format!("not a backfill task: {e}"),
    })?;
    let handle = tokio::runtime::Handle::current();
    let started = Instant::now();
    let request_id = event.context.request_id;
    let result = tokio::task::spawn_blocking(move || {
        let (config, client) = &*shared;
        let s3 = S3Access::with(client.clone(), handle);
        let result = run(&task, config, &s3);
        (task, result)
    })
    .await;
    let (task, result) = result.map_err(|e| Diagnostic {
        error_type: "Internal".to_owned(),
        error_message: format!("the task stopped: {e}"),
    })?;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(output) => {
            tracing::info!(
                request_id,
                action = ?task.action,
                data_file = task.data_file_s3_key.as_deref().unwrap_or(""),
                duration_ms = elapsed_ms,
                output = %output,
                "backfill task done"
            );
            Ok(output)
        }
        Err(e) => {
            tracing::error!(
                request_id,
                action = ?task.action,
                data_file = task.data_file_s3_key.as_deref().unwrap_or(""),
                duration_ms = elapsed_ms,
                code = e.code(),
                error = %e,
                "backfill task failed"
            );
            Err(Diagnostic {
                error_type: e.code().to_owned(),
                error_message: e.to_string(),
            })
        }
    }
}
