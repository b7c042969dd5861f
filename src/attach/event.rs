//! The custom resource's request and response, as CloudFormation defines them (CloudFormation
//! User Guide, "Custom resource request objects" and "Custom resource response objects"), and
//! the `Custom::TableAttachment` properties read from the request.
//!
//! ```text
//! request  {"RequestType":"Create|Update|Delete","RequestId","ResponseURL","ResourceType",
//!           "LogicalResourceId","StackId","PhysicalResourceId"(Update, Delete),
//!           "ResourceProperties":{…},"OldResourceProperties":{…}(Update)}
//! response {"Status":"SUCCESS|FAILED","Reason"(FAILED),"PhysicalResourceId","StackId",
//!           "RequestId","LogicalResourceId","Data":{…}}   at most 4096 bytes
//! ```

use super::error::AttachError;
use crate::arn::StreamArn;
use crate::record::partition::is_table_name;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The response body's limit (CloudFormation User Guide, "Custom resource response objects").
pub const MAX_RESPONSE_BYTES: usize = 4096;

/// What CloudFormation asks for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub enum RequestType {
    Create,
    Update,
    Delete,
    /// Anything else: answered FAILED (the answer still reaches CloudFormation).
    #[serde(untagged)]
    Other(String),
}

/// A custom resource request. Properties stay raw JSON here, so that a request with bad
/// properties is still answered (FAILED, naming the property) rather than left to time out.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub request_type: RequestType,
    pub request_id: String,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    #[serde(default)]
    pub resource_type: String,
    pub logical_resource_id: String,
    pub stack_id: String,
    /// Present on Update and Delete: what this function answered on Create.
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    #[serde(default)]
    pub resource_properties: Value,
    /// Present on Update: the properties before the update.
    #[serde(default)]
    pub old_resource_properties: Option<Value>,
}

impl Request {
    /// Reads an invocation's payload.
    pub fn from_value(payload: Value) -> Result<Request, AttachError> {
        serde_json::from_value(payload).map_err(|e| AttachError::NotARequest(e.to_string()))
    }

    /// The PhysicalResourceId to answer with: the one CloudFormation already holds (Update,
    /// Delete), else `ddb-lake-tables-<stack name>-<logical id>`. It never changes on Update,
    /// since a new one would make CloudFormation replace the resource (delete the old one, which
    /// would detach the tables).
    pub fn physical_resource_id(&self) -> String {
        if let Some(id) = self
            .physical_resource_id
            .as_deref()
            .filter(|id| !id.is_empty())
        {
            return id.to_owned();
        }
        // arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/UUID
        let stack = self
            .stack_id
            .split('/')
            .nth(1)
            .filter(|name| !name.is_empty())
            .unwrap_or(&self.stack_id);
        format!("ddb-lake-tables-{stack}-{}", self.logical_resource_id)
    }

    /// The SUCCESS answer, with `data` for `Fn::GetAtt`.
    pub fn success(&self, data: BTreeMap<String, String>) -> Response {
        self.response(Status::Success, None, data)
    }

    /// The FAILED answer, `Reason` `<code>: <message>`.
    pub fn failure(&self, error: &AttachError) -> Response {
        self.response(Status::Failed, Some(error.reason()), BTreeMap::new())
    }

    fn response(
        &self,
        status: Status,
        reason: Option<String>,
        data: BTreeMap<String, String>,
    ) -> Response {
        Response {
            status,
            reason,
            physical_resource_id: self.physical_resource_id(),
            stack_id: self.stack_id.clone(),
            request_id: self.request_id.clone(),
            logical_resource_id: self.logical_resource_id.clone(),
            data,
        }
    }
}

/// `SUCCESS` or `FAILED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    #[serde(rename = "SUCCESS")]
    Success,
    #[serde(rename = "FAILED")]
    Failed,
}

/// The answer PUT to the ResponseURL. RequestId, StackId and LogicalResourceId are copied from
/// the request verbatim, as CloudFormation requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub physical_resource_id: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

impl Response {
    /// The JSON body, within [`MAX_RESPONSE_BYTES`]: a long `Reason` is cut (at a character
    /// boundary, marked `…`) rather than have CloudFormation refuse the whole answer.
    pub fn to_body(&self) -> Vec<u8> {
        let body = serde_json::to_vec(self).unwrap_or_default();
        let Some(reason) = self
            .reason
            .as_deref()
            .filter(|_| body.len() > MAX_RESPONSE_BYTES)
        else {
            return body;
        };
        let with = |keep: usize| {
            let mut cut = self.clone();
            cut.reason = Some(format!("{}…", &reason[..keep]));
            serde_json::to_vec(&cut).unwrap_or_default()
        };
        // The longest prefix (at a character boundary) that fits; escaping makes the JSON
        // longer than the text, so it is searched for rather than computed.
        let (mut fits, mut too_long) = (0, reason.len());
        while too_long - fits > 1 {
            let mut mid = (fits + too_long) / 2;
            while !reason.is_char_boundary(mid) {
                mid -= 1;
            }
            if mid <= fits {
                break;
            }
            if with(mid).len() <= MAX_RESPONSE_BYTES {
                fits = mid;
            } else {
                too_long = mid;
            }
        }
        with(fits)
    }
}

/// Where the attached tables' changes go (the stacks' `ChangeSource` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSource {
    /// Each table's Kinesis streaming destination is the pipeline's stream.
    KinesisDataStreams,
    /// The table's own DynamoDB stream, read by an EventBridge Pipe: one table.
    DynamoDbStreams,
}

/// `Custom::TableAttachment`'s ResourceProperties, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Properties {
    /// DynamoDB table names in this account and region; at least one, no repeats, in the order
    /// given.
    pub table_names: Vec<String>,
    pub change_source: ChangeSource,
    /// The pipeline's Kinesis stream ARN; `Some` exactly when the change source is
    /// KinesisDataStreams.
    pub stream_arn: Option<String>,
    pub lake_bucket: String,
    /// Empty or ends in `/`.
    pub table_prefix: String,
    /// The key for SSE-KMS on the key schema objects.
    pub lake_kms_key_arn: String,
}

impl Properties {
    /// Reads and checks ResourceProperties. CloudFormation passes every scalar as a string and a
    /// list as a JSON array; `TableNames` may also be one comma-separated string.
    pub fn from_value(properties: &Value) -> Result<Properties, AttachError> {
        let bad = |name, reason: String| AttachError::BadProperty { name, reason };
        let text = |name: &'static str| -> Result<&str, AttachError> {
            match properties.get(name) {
                Some(Value::String(s)) => Ok(s.trim()),
                None | Some(Value::Null) => Err(bad(name, "missing".to_owned())),
                Some(other) => Err(bad(name, format!("expected a string, got {other}"))),
            }
        };
        let table_names = table_names(properties.get("TableNames"))
            .map_err(|reason| bad("TableNames", reason))?;
        let change_source = match text("ChangeSource")? {
            "KinesisDataStreams" => ChangeSource::KinesisDataStreams,
            "DynamoDBStreams" => ChangeSource::DynamoDbStreams,
            other => {
                return Err(bad(
                    "ChangeSource",
                    format!("{other:?} is neither KinesisDataStreams nor DynamoDBStreams"),
                ))
            }
        };
        let stream_arn = match change_source {
            ChangeSource::KinesisDataStreams => {
                let arn = text("StreamArn")?;
                StreamArn::parse(arn)
                    .map_err(|e| bad("StreamArn", format!("{arn:?}: {}", e.reason)))?;
                Some(arn.to_owned())
            }
            ChangeSource::DynamoDbStreams => None,
        };
        let lake_bucket = text("LakeBucket")?;
        if lake_bucket.is_empty() || lake_bucket.contains('/') {
            return Err(bad(
                "LakeBucket",
                format!("{lake_bucket:?} is not a bucket name"),
            ));
        }
        let table_prefix = text("TablePrefix")?;
        if !(table_prefix.is_empty() || table_prefix.ends_with('/'))
            || table_prefix.starts_with('/')
        {
            return Err(bad(
                "TablePrefix",
                format!("{table_prefix:?} must be empty or end in / (and not start with /)"),
            ));
        }
        let lake_kms_key_arn = text("LakeKmsKeyArn")?;
        if lake_kms_key_arn.is_empty() {
            return Err(bad("LakeKmsKeyArn", "empty".to_owned()));
        }
        Ok(Properties {
            table_names,
            change_source,
            stream_arn,
            lake_bucket: lake_bucket.to_owned(),
            table_prefix: table_prefix.to_owned(),
            lake_kms_key_arn: lake_kms_key_arn.to_owned(),
        })
    }

    /// The tables whose Kinesis streaming destination these properties attach: all of them with
    /// KinesisDataStreams, none with DynamoDBStreams.
    pub fn kinesis_tables(&self) -> &[String] {
        match self.change_source {
            ChangeSource::KinesisDataStreams => &self.table_names,
            ChangeSource::DynamoDbStreams => &[],
        }
    }
}

/// `TableNames`: a JSON array of names or one comma-separated string; names trimmed, empty
/// entries dropped, repeats dropped, each a DynamoDB table name.
fn table_names(value: Option<&Value>) -> Result<Vec<String>, String> {
    let raw: Vec<&str> = match value {
        None | Some(Value::Null) => return Err("missing".to_owned()),
        Some(Value::String(s)) => s.split(',').collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().ok_or(format!("{item} is not a string")))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("expected a list of table names, got {other}")),
    };
    let mut names: Vec<String> = Vec::new();
    for name in raw.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
        if !is_table_name(name) {
            return Err(format!(
                "{name:?} is not a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ - .)"
            ));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    if names.is_empty() {
        return Err("no table names".to_owned());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn properties() -> Value {
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:attach",
            "TableNames": ["orders", "devices"],
            "ChangeSource": "KinesisDataStreams",
            "StreamArn": "arn:aws:kinesis:us-east-1:111122223333:stream/lake",
            "LakeBucket": "lake-bucket",
            "TablePrefix": "lake/",
            "LakeKmsKeyArn": "arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        })
    }

    fn request(kind: &str) -> Value {
        json!({
            "RequestType": kind,
            "RequestId": "unique-id-1",
            "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?sig",
            "ResourceType": "Custom::TableAttachment",
            "LogicalResourceId": "Tables",
            "StackId": "arn:aws:cloudformation:us-east-1:111122223333:stack/lake/5b6c7d8e-0000-1111-2222-333344445555",
            "ResourceProperties": properties()
        })
    }

    #[test]
    fn reads_the_documented_request_and_its_properties() {
        let r = Request::from_value(request("Create")).unwrap();
        assert_eq!(r.request_type, RequestType::Create);
        assert_eq!(r.request_id, "unique-id-1");
        assert!(r.response_url.starts_with("https://"));
        let p = Properties::from_value(&r.resource_properties).unwrap();
        assert_eq!(p.table_names, ["orders", "devices"]);
        assert_eq!(p.change_source, ChangeSource::KinesisDataStreams);
        assert_eq!(
            p.stream_arn.as_deref(),
            Some("arn:aws:kinesis:us-east-1:111122223333:stream/lake")
        );
        assert_eq!(p.table_prefix, "lake/");
        assert_eq!(p.kinesis_tables(), ["orders", "devices"]);
    }

    #[test]
    fn an_unknown_request_type_is_still_a_request_to_answer() {
        let r = Request::from_value(request("Import")).unwrap();
        assert_eq!(r.request_type, RequestType::Other("Import".into()));
    }

    #[test]
    fn a_payload_without_a_response_url_is_not_a_request() {
        let mut v = request("Create");
        v.as_object_mut().unwrap().remove("ResponseURL");
        let e = Request::from_value(v).unwrap_err();
        assert_eq!(e.code(), "NotACustomResourceRequest");
        assert!(e.to_string().contains("ResponseURL"), "{e}");
    }

    #[test]
    fn the_physical_id_is_made_once_and_then_kept() {
        let mut r = Request::from_value(request("Create")).unwrap();
        assert_eq!(r.physical_resource_id(), "ddb-lake-tables-lake-Tables");
        r.physical_resource_id = Some("kept".into());
        r.request_type = RequestType::Update;
        assert_eq!(r.physical_resource_id(), "kept");
    }

    #[test]
    fn table_names_as_a_list_or_a_comma_separated_string() {
        let mut p = properties();
        p["TableNames"] = json!(" orders , devices,,orders ");
        let read = Properties::from_value(&p).unwrap();
        assert_eq!(read.table_names, ["orders", "devices"]);
        for bad in [
            json!([]),
            json!(""),
            json!(["a/b"]),
            json!([1]),
            json!({"a": 1}),
        ] {
            p["TableNames"] = bad.clone();
            let e = Properties::from_value(&p).unwrap_err();
            assert!(
                e.to_string().starts_with("property TableNames:"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn each_bad_property_is_named() {
        let cases = [
            ("ChangeSource", json!("Kafka")),
            ("StreamArn", json!("arn:aws:sqs:us-east-1:111122223333:q")),
            ("LakeBucket", json!("")),
            ("TablePrefix", json!("lake")),
            ("LakeKmsKeyArn", json!(null)),
        ];
        for (name, value) in cases {
            let mut p = properties();
            p[name] = value;
            let e = Properties::from_value(&p).unwrap_err();
            assert_eq!(e.code(), "BadProperty");
            assert!(
                e.to_string().starts_with(&format!("property {name}:")),
                "{e}"
            );
        }
    }

    #[test]
    fn dynamodb_streams_needs_no_stream_arn() {
        let mut p = properties();
        p["ChangeSource"] = json!("DynamoDBStreams");
        p.as_object_mut().unwrap().remove("StreamArn");
        let read = Properties::from_value(&p).unwrap();
        assert_eq!(read.stream_arn, None);
        assert!(read.kinesis_tables().is_empty());
    }

    #[test]
    fn answers_carry_the_request_ids_verbatim() {
        let r = Request::from_value(request("Create")).unwrap();
        let ok = r.success(BTreeMap::from([("LatestStreamArn".into(), "arn:s".into())]));
        let v: Value = serde_json::from_slice(&ok.to_body()).unwrap();
        assert_eq!(
            v,
            json!({"Status": "SUCCESS", "PhysicalResourceId": "ddb-lake-tables-lake-Tables",
                   "StackId": r.stack_id, "RequestId": "unique-id-1", "LogicalResourceId": "Tables",
                   "Data": {"LatestStreamArn": "arn:s"}})
        );
        let failed = r.failure(&AttachError::TableNotFound {
            table: "orders".into(),
        });
        let v: Value = serde_json::from_slice(&failed.to_body()).unwrap();
        assert_eq!(v["Status"], "FAILED");
        assert_eq!(
            v["Reason"],
            "TableNotFound: table orders does not exist in this account and region"
        );
        assert!(v.get("Data").is_none());
    }

    #[test]
    fn a_long_reason_is_cut_to_fit_the_limit() {
        let r = Request::from_value(request("Create")).unwrap();
        let long = AttachError::TimedOut {
            waiting: "\"é\" ".repeat(2000),
        };
        let body = r.failure(&long).to_body();
        // As much of the reason as fits is kept.
        assert!(
            (MAX_RESPONSE_BYTES - 16..=MAX_RESPONSE_BYTES).contains(&body.len()),
            "{}",
            body.len()
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        let reason = v["Reason"].as_str().unwrap();
        assert!(reason.starts_with("TimedOut: "), "{reason}");
        assert!(reason.ends_with('…'), "{reason}");
    }
}
