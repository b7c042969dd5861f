//! The DynamoDB calls the custom resource makes, behind [`DynamoDb`] so tests can put a
//! stand-in where no local server implements a call (moto has no Kinesis streaming destination
//! API). [`SdkDynamoDb`] makes them with `aws-sdk-dynamodb`; shapes are the DynamoDB API
//! Reference's (DescribeTable, UpdateTable, Describe/Enable/Update/DisableKinesisStreamingDestination).

use super::error::AttachError;
use super::tables::{Destination, DestinationStatus, Precision, TableInfo, TableStream};
use crate::catalog::key_schema::{AttributeDefinition, KeySchema, KeySchemaElement};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    ApproximateCreationDateTimePrecision, EnableKinesisStreamingConfiguration, StreamSpecification,
    StreamViewType, TableDescription, UpdateKinesisStreamingConfiguration,
};
use std::future::Future;

/// The calls, one per operation. Errors are [`AttachError::DynamoDb`] naming the operation and
/// the table; the SDK has already retried what it retries (throttling, 5xx).
pub trait DynamoDb {
    /// DescribeTable: the key schema and the stream, or `None` when the table does not exist.
    fn describe_table(
        &self,
        table: &str,
    ) -> impl Future<Output = Result<Option<TableInfo>, AttachError>> + Send;

    /// DescribeKinesisStreamingDestination, or `None` when the table does not exist.
    fn describe_destinations(
        &self,
        table: &str,
    ) -> impl Future<Output = Result<Option<Vec<Destination>>, AttachError>> + Send;

    /// EnableKinesisStreamingDestination with ApproximateCreationDateTimePrecision MICROSECOND.
    fn enable_destination(
        &self,
        table: &str,
        stream_arn: &str,
    ) -> impl Future<Output = Result<(), AttachError>> + Send;

    /// UpdateKinesisStreamingDestination to ApproximateCreationDateTimePrecision MICROSECOND.
    fn raise_precision(
        &self,
        table: &str,
        stream_arn: &str,
    ) -> impl Future<Output = Result<(), AttachError>> + Send;

    /// DisableKinesisStreamingDestination. A table gone meanwhile is not an error.
    fn disable_destination(
        &self,
        table: &str,
        stream_arn: &str,
    ) -> impl Future<Output = Result<(), AttachError>> + Send;

    /// UpdateTable with only StreamSpecification {StreamEnabled: true, StreamViewType:
    /// NEW_AND_OLD_IMAGES} (keys, capacity and encryption are not part of the call); the new
    /// stream's `LatestStreamArn` when the answer has it.
    fn enable_stream(
        &self,
        table: &str,
    ) -> impl Future<Output = Result<Option<String>, AttachError>> + Send;
}

/// [`DynamoDb`] with the AWS SDK.
#[derive(Debug, Clone)]
pub struct SdkDynamoDb {
    client: aws_sdk_dynamodb::Client,
}

impl SdkDynamoDb {
    pub fn new(client: aws_sdk_dynamodb::Client) -> SdkDynamoDb {
        SdkDynamoDb { client }
    }
}

fn failed<E, R>(operation: &'static str, table: &str, err: SdkError<E, R>) -> AttachError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    AttachError::DynamoDb {
        operation,
        table: table.to_owned(),
        message: DisplayErrorContext(&err).to_string(),
    }
}

/// The service said ResourceNotFoundException.
fn not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.code() == Some("ResourceNotFoundException"))
}

/// A `TableDescription`'s key schema (DescribeTable's own field names and values) and stream.
pub fn table_info(table: &str, description: &TableDescription) -> TableInfo {
    let key_schema = KeySchema {
        table_name: description.table_name().unwrap_or(table).to_owned(),
        key_schema: description
            .key_schema()
            .iter()
            .map(|k| KeySchemaElement {
                attribute_name: k.attribute_name().to_owned(),
                key_type: k.key_type().as_str().to_owned(),
            })
            .collect(),
        attribute_definitions: description
            .attribute_definitions()
            .iter()
            .map(|a| AttributeDefinition {
                attribute_name: a.attribute_name().to_owned(),
                attribute_type: a.attribute_type().as_str().to_owned(),
            })
            .collect(),
    };
    // A disabled stream's LatestStreamArn lingers for a day: only an enabled one counts.
    let stream = description
        .stream_specification()
        .filter(|s| s.stream_enabled())
        .map(|s| TableStream {
            view_type: s.stream_view_type().map_or("", |v| v.as_str()).to_owned(),
            arn: description.latest_stream_arn().map(str::to_owned),
        });
    TableInfo { key_schema, stream }
}

impl DynamoDb for SdkDynamoDb {
    async fn describe_table(&self, table: &str) -> Result<Option<TableInfo>, AttachError> {
        match self.client.describe_table().table_name(table).send().await {
            Ok(out) => match out.table() {
                Some(description) => Ok(Some(table_info(table, description))),
                None => Err(AttachError::DynamoDb {
                    operation: "DescribeTable",
                    table: table.to_owned(),
                    message: "the answer has no Table".to_owned(),
                }),
            },
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(failed("DescribeTable", table, e)),
        }
    }

    async fn describe_destinations(
        &self,
        table: &str,
    ) -> Result<Option<Vec<Destination>>, AttachError> {
        let out = match self
            .client
            .describe_kinesis_streaming_destination()
            .table_name(table)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(failed("DescribeKinesisStreamingDestination", table, e)),
        };
        let destinations = out
            .kinesis_data_stream_destinations()
            .iter()
            .map(|d| Destination {
                stream_arn: d.stream_arn().unwrap_or_default().to_owned(),
                status: d
                    .destination_status()
                    .map_or(DestinationStatus::Unknown, |s| {
                        DestinationStatus::from_api(s.as_str())
                    }),
                precision: d
                    .approximate_creation_date_time_precision()
                    .map(|p| match p {
                        ApproximateCreationDateTimePrecision::Microsecond => Precision::Microsecond,
                        _ => Precision::Millisecond,
                    }),
                description: d.destination_status_description().map(str::to_owned),
            })
            .collect();
        Ok(Some(destinations))
    }

    async fn enable_destination(&self, table: &str, stream_arn: &str) -> Result<(), AttachError> {
        self.client
            .enable_kinesis_streaming_destination()
            .table_name(table)
            .stream_arn(stream_arn)
            .enable_kinesis_streaming_configuration(
                EnableKinesisStreamingConfiguration::builder()
                    .approximate_creation_date_time_precision(
                        ApproximateCreationDateTimePrecision::Microsecond,
                    )
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed("EnableKinesisStreamingDestination", table, e))
    }

    async fn raise_precision(&self, table: &str, stream_arn: &str) -> Result<(), AttachError> {
        self.client
            .update_kinesis_streaming_destination()
            .table_name(table)
            .stream_arn(stream_arn)
            .update_kinesis_streaming_configuration(
                UpdateKinesisStreamingConfiguration::builder()
                    .approximate_creation_date_time_precision(
                        ApproximateCreationDateTimePrecision::Microsecond,
                    )
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed("UpdateKinesisStreamingDestination", table, e))
    }

    async fn disable_destination(&self, table: &str, stream_arn: &str) -> Result<(), AttachError> {
        match self
            .client
            .disable_kinesis_streaming_destination()
            .table_name(table)
            .stream_arn(stream_arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(failed("DisableKinesisStreamingDestination", table, e)),
        }
    }

    async fn enable_stream(&self, table: &str) -> Result<Option<String>, AttachError> {
        let spec = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewAndOldImages)
            .build()
            .map_err(|e| AttachError::DynamoDb {
                operation: "UpdateTable",
                table: table.to_owned(),
                message: e.to_string(),
            })?;
        let out = self
            .client
            .update_table()
            .table_name(table)
            .stream_specification(spec)
            .send()
            .await
            .map_err(|e| failed("UpdateTable", table, e))?;
        Ok(out
            .table_description()
            .and_then(|d| d.latest_stream_arn())
            .map(str::to_owned))
    }
}
