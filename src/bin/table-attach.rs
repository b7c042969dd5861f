//! The table-attachment Lambda: CloudFormation's `Custom::TableAttachment` requests, carried out
//! as [`ddb_lake::attach`] describes (Kinesis streaming destinations or a DynamoDB stream, key
//! schema objects) and answered by a PUT to each request's ResponseURL. No settings beyond
//! Lambda's own; the AWS clients and the HTTPS client are built once at start.

use ddb_lake::attach::dynamodb::SdkDynamoDb;
use ddb_lake::attach::key_schemas::S3KeySchemas;
use ddb_lake::attach::resource::Pacing;
use ddb_lake::attach::response::Responder;
use ddb_lake::attach::{answer, AttachError};
use ddb_lake::lake::store::client_for;
use ddb_lake::telemetry::logs as report;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// How often changing destinations are looked at.
const POLL: Duration = Duration::from_secs(5);
/// Kept back from the invocation's deadline to send the answer (a PUT, retried).
const ANSWER_RESERVE: Duration = Duration::from_secs(20);

fn main() -> ExitCode {
    report::init_logging();
    let responder = match Responder::new() {
        Ok(responder) => responder,
        Err(e) => {
            // Without CA roots no answer could ever reach CloudFormation.
            tracing::error!(error = %e, "not starting: no TLS trust roots for the ResponseURL");
            return ExitCode::FAILURE;
        }
    };
    match serve(responder) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

struct Clients {
    dynamodb: SdkDynamoDb,
    key_schemas: S3KeySchemas,
    responder: Responder,
}

#[tokio::main(flavor = "current_thread")]
async fn serve(responder: Responder) -> Result<(), lambda_runtime::Error> {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let clients = Arc::new(Clients {
        dynamodb: SdkDynamoDb::new(aws_sdk_dynamodb::Client::new(&shared)),
        key_schemas: S3KeySchemas::new(client_for(&shared)),
        responder,
    });
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let clients = clients.clone();
        async move { handle(event, clients).await }
    }))
    .await
}

async fn handle(event: LambdaEvent<Value>, clients: Arc<Clients>) -> Result<Value, Diagnostic> {
    let pacing = Pacing {
        poll: POLL,
        deadline: Instant::now() + time_left(event.context.deadline).saturating_sub(ANSWER_RESERVE),
    };
    let c = &*clients;
    match answer(
        event.payload,
        &c.dynamodb,
        &c.key_schemas,
        &c.responder,
        pacing,
    )
    .await
    {
        Ok(response) => Ok(json!({
            "Status": response.status,
            "PhysicalResourceId": response.physical_resource_id,
        })),
        Err(e) => {
            tracing::error!(code = e.code(), error = %e, "no answer reached CloudFormation");
            Err(diagnostic(&e))
        }
    }
}

/// Time until `deadline_ms` (milliseconds since the epoch, as the Runtime API gives it).
fn time_left(deadline_ms: u64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_millis(deadline_ms).saturating_sub(now)
}

fn diagnostic(e: &AttachError) -> Diagnostic {
    Diagnostic {
        error_type: e.code().to_owned(),
        error_message: e.to_string(),
    }
}
