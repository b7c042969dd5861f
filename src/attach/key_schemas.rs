//! Writing a table's key schema object into the lake bucket
//! (`<TablePrefix>_key_schemas/<table>.json`, [`crate::catalog::key_schema`]), SSE-KMS with the
//! lake's key. The bucket may belong to another account: PutObject needs only `s3:PutObject` on
//! that prefix and `kms:GenerateDataKey` on the key.

use super::error::AttachError;
use crate::catalog::key_schema::{key_schema_object_key, KeySchema};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use std::future::Future;

/// Where key schema objects go.
pub trait KeySchemaStore {
    /// Writes `schema` under `table_prefix` in `bucket`, encrypted with `kms_key_arn`; returns
    /// the object key.
    fn put(
        &self,
        bucket: &str,
        table_prefix: &str,
        kms_key_arn: &str,
        schema: &KeySchema,
    ) -> impl Future<Output = Result<String, AttachError>> + Send;
}

/// [`KeySchemaStore`] on S3.
#[derive(Debug, Clone)]
pub struct S3KeySchemas {
    client: aws_sdk_s3::Client,
}

impl S3KeySchemas {
    pub fn new(client: aws_sdk_s3::Client) -> S3KeySchemas {
        S3KeySchemas { client }
    }
}

impl KeySchemaStore for S3KeySchemas {
    async fn put(
        &self,
        bucket: &str,
        table_prefix: &str,
        kms_key_arn: &str,
        schema: &KeySchema,
    ) -> Result<String, AttachError> {
        let key = key_schema_object_key(table_prefix, &schema.table_name);
        let fail = |message: String| AttachError::KeySchemaWrite {
            bucket: bucket.to_owned(),
            key: key.clone(),
            message,
        };
        let body = serde_json::to_vec(schema).map_err(|e| fail(e.to_string()))?;
        self.client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(kms_key_arn)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| fail(DisplayErrorContext(&e).to_string()))?;
        Ok(key)
    }
}
