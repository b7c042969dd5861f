//! Attaching existing DynamoDB tables to the pipeline: the `Custom::TableAttachment`
//! CloudFormation custom resource behind the `table-attach` Lambda (`src/bin/table-attach.rs`).
//! CloudFormation has no resource for a setting on a table it does not own, so the stacks name
//! the tables and this function turns their changes towards the lake, and away again.
//!
//! ```text
//! request (Lambda invocation)      event        Request, Properties (TableNames, ChangeSource,
//!   │                                           StreamArn, LakeBucket, TablePrefix, LakeKmsKeyArn)
//!   ▼
//! resource::apply ── dynamodb::DynamoDb    DescribeTable, UpdateTable (stream only),
//!   │   │                                  Describe/Enable/Update/DisableKinesisStreamingDestination
//!   │   ├─ tables        the next step per table, decided from what DynamoDB reports (pure)
//!   │   └─ key_schemas   <TablePrefix>_key_schemas/<table>.json, SSE-KMS (aws-sdk-s3)
//!   ▼
//! Response (SUCCESS | FAILED "<code>: <reason>") ── response::Responder ── PUT ResponseURL
//! ```
//!
//! Every request is answered, FAILED with the reason when anything goes wrong, so a stack never
//! waits out CloudFormation's timeout; only a payload with no ResponseURL (not a custom resource
//! request) or an answer that cannot be delivered fails the invocation itself.
//!
//! # IAM
//! The function's role needs (DynamoDB Developer Guide, "Using IAM policies for Amazon Kinesis
//! Data Streams and Amazon DynamoDB"; CloudFormation's own calls need nothing more):
//! - on each attached table: `dynamodb:DescribeTable`,
//!   `dynamodb:DescribeKinesisStreamingDestination`, `dynamodb:EnableKinesisStreamingDestination`,
//!   `dynamodb:DisableKinesisStreamingDestination`, `dynamodb:UpdateKinesisStreamingDestination`,
//!   and `dynamodb:UpdateTable` (DynamoDBStreams only: the call carries a StreamSpecification and
//!   nothing else);
//! - on the pipeline's stream, for the caller of Enable/DescribeKinesisStreamingDestination:
//!   `kinesis:DescribeStream`, `kinesis:PutRecords`, `kinesis:ListStreams` (enable) and
//!   `kinesis:DescribeStreamSummary` (describe). DynamoDB writes the records through its
//!   service-linked role `AWSServiceRoleForDynamoDBKinesisDataStreamsReplication`, created on the
//!   account's first enable: that first time the caller also needs `iam:CreateServiceLinkedRole`
//!   with `iam:AWSServiceName` = `kinesisreplication.dynamodb.amazonaws.com`;
//! - `s3:PutObject` on `<lake bucket>/<TablePrefix>_key_schemas/*` and `kms:GenerateDataKey` on
//!   the lake's key (plus the bucket's and key's policies allowing it when the lake is in another
//!   account).

pub mod dynamodb;
pub mod error;
pub mod event;
pub mod key_schemas;
pub mod resource;
pub mod response;
pub mod tables;

pub use error::AttachError;
pub use event::{Request, Response};

use dynamodb::DynamoDb;
use key_schemas::KeySchemaStore;
use resource::Pacing;
use response::Responder;
use serde_json::Value;

/// Answers one invocation: reads the request, carries it out, PUTs the answer to its
/// ResponseURL and returns that answer. `Err` only when there is no request to answer
/// ([`AttachError::NotARequest`]) or the answer could not be delivered.
pub async fn answer<D: DynamoDb + Sync, S: KeySchemaStore + Sync>(
    payload: Value,
    dynamodb: &D,
    store: &S,
    responder: &Responder,
    pacing: Pacing,
) -> Result<Response, AttachError> {
    let request = Request::from_value(payload)?;
    // The ResponseURL is a pre-signed credential: never logged.
    tracing::info!(
        request_type = ?request.request_type,
        request_id = request.request_id,
        stack_id = request.stack_id,
        logical_resource_id = request.logical_resource_id,
        "custom resource request"
    );
    let response = match resource::apply(&request, dynamodb, store, pacing).await {
        Ok(data) => request.success(data),
        Err(e) => {
            tracing::error!(code = e.code(), error = %e, request_id = request.request_id, "request failed");
            request.failure(&e)
        }
    };
    responder
        .put(&request.response_url, response.to_body())
        .await?;
    tracing::info!(
        status = ?response.status,
        physical_resource_id = response.physical_resource_id,
        "answer sent"
    );
    Ok(response)
}
