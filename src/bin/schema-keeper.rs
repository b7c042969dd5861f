//! The schema keeper Lambda: the lake bucket's S3 event notifications in, its Glue tables and
//! current-state views kept up to date ([`ddb_lake::keeper`]). Settings (GLUE_DATABASE,
//! TABLE_PREFIX, PROJECTION_START_YEAR, METADATA_PREFIX) are read once at
//! start; a bad one stops the start naming it.
//!
//! Each change is logged (table, columns added, types widened, view); each invocation prints one
//! EMF line (namespace `DdbLake`). An object that cannot be handled fails the invocation with the
//! error's stable code as `errorType`: S3 invokes asynchronously, so Lambda retries it and then
//! hands it to the function's failure destination.

use ddb_lake::keeper::glue_tables::GlueTables;
use ddb_lake::keeper::keep::{TableChange, ViewChange};
use ddb_lake::keeper::{Keeper, KeeperSettings, S3Event};
use ddb_lake::lake::store::client_from_environment;
use ddb_lake::telemetry::logs as report;
use ddb_lake::telemetry::metrics::emf_counts;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

fn main() -> ExitCode {
    report::init_logging();
    let settings = match KeeperSettings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            tracing::error!(error = %e, "not starting");
            return ExitCode::FAILURE;
        }
    };
    match serve(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn serve(settings: KeeperSettings) -> Result<(), lambda_runtime::Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let keeper = Arc::new(Keeper {
        glue: GlueTables::new(aws_sdk_glue::Client::new(&sdk), settings.database.clone()),
        s3: client_from_environment().await,
        settings,
    });
    let function_name = Arc::new(
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "schema-keeper".into()),
    );
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let (keeper, function_name) = (keeper.clone(), function_name.clone());
        async move { handle(event, &keeper, &function_name).await }
    }))
    .await
}

#[derive(Default)]
struct Counts {
    objects: u64,
    tables_created: u64,
    tables_updated: u64,
    columns_added: u64,
    columns_widened: u64,
    views_written: u64,
    races: u64,
    bad_rows: u64,
    failed: u64,
}

async fn handle(
    event: LambdaEvent<Value>,
    keeper: &Keeper,
    function_name: &str,
) -> Result<Value, Diagnostic> {
    let request_id = event.context.request_id;
    let notification: S3Event = serde_json::from_value(event.payload).map_err(|e| Diagnostic {
        error_type: "NotAnS3Event".to_owned(),
        error_message: format!("not an S3 event notification: {e}"),
    })?;
    let mut counts = Counts::default();
    let mut first_error = None;
    for record in notification
        .records
        .iter()
        .filter(|r| r.is_object_created())
    {
        let bucket = &record.s3.bucket.name;
        let Some(key) = record.object_key() else {
            tracing::warn!(
                request_id,
                bucket,
                key = record.s3.object.key,
                "object key is not UTF-8; skipped"
            );
            continue;
        };
        counts.objects += 1;
        match keeper.keep_object(bucket, &key).await {
            Ok(outcome) => {
                counts.races += u64::from(outcome.races);
                counts.bad_rows += outcome.bad_rows;
                counts.columns_added += outcome.added.len() as u64;
                counts.columns_widened += outcome.widened.len() as u64;
                match outcome.table {
                    TableChange::Created => counts.tables_created += 1,
                    TableChange::Updated => counts.tables_updated += 1,
                    TableChange::Unchanged | TableChange::Ignored => {}
                }
                if matches!(outcome.view, ViewChange::Created | ViewChange::Replaced) {
                    counts.views_written += 1;
                }
                if outcome.table != TableChange::Unchanged
                    || !matches!(outcome.view, ViewChange::Unchanged)
                {
                    tracing::info!(
                        request_id,
                        bucket,
                        key,
                        glue_table = outcome.glue_table.as_deref().unwrap_or(""),
                        table = ?outcome.table,
                        columns_added = ?outcome.added,
                        types_widened = ?outcome.widened,
                        view = ?outcome.view,
                        bad_rows = outcome.bad_rows,
                        races = outcome.races,
                        "catalog kept"
                    );
                }
            }
            Err(e) => {
                counts.failed += 1;
                tracing::error!(request_id, bucket, key, code = e.code(), error = %e, "object not kept");
                first_error.get_or_insert(e);
            }
        }
    }
    println!(
        "{}",
        emf_counts(
            function_name,
            SystemTime::now(),
            &[
                ("ObjectsRead", counts.objects),
                ("TablesCreated", counts.tables_created),
                ("TablesUpdated", counts.tables_updated),
                ("ColumnsAdded", counts.columns_added),
                ("ColumnsWidened", counts.columns_widened),
                ("ViewsWritten", counts.views_written),
                ("Races", counts.races),
                ("BadRows", counts.bad_rows),
                ("ObjectsFailed", counts.failed),
            ],
        )
    );
    match first_error {
        None => Ok(serde_json::json!({"objects": counts.objects})),
        Some(e) => Err(Diagnostic {
            error_type: e.code().to_owned(),
            error_message: e.to_string(),
        }),
    }
}
