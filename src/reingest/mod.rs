//! Putting back on the source Kinesis stream the records that do not fit in the response
//! (the contract's "Response size"): their original bytes and partition keys, with `PutRecords`
//! (at most 500 records and 5 MiB a call), retrying only the entries that failed, with
//! exponential backoff and full jitter, until the invocation's deadline. If any record cannot be
//! put back the caller fails the invocation, so a record is answered `Dropped` only once it is on
//! the stream.
//!
//! The deciding parts are pure ([`StreamArn::parse`], [`plan_calls`], [`Backoff`],
//! [`Batch::fit`]); the I/O is behind [`PutRecords`], which [`KinesisApi`]
//! implements with the AWS SDK.

use crate::arn::{ArnError, StreamArn};
use crate::firehose::batch::Batch;
use crate::firehose::fit::{FitError, Reingest};
use crate::limits::{PUT_RECORDS_MAX_BYTES, PUT_RECORDS_MAX_RECORDS};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::Region;
use aws_sdk_kinesis::error::{DisplayErrorContext, SdkError};
use aws_sdk_kinesis::operation::put_records::PutRecordsError;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_kinesis::Client;
use std::future::Future;
use std::ops::Range;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use thiserror::Error;
use tokio::sync::OnceCell;

/// Splits `records` into `PutRecords` calls, in order: each at most [`PUT_RECORDS_MAX_RECORDS`]
/// records and [`PUT_RECORDS_MAX_BYTES`] bytes (a record larger than that alone goes in a call of
/// its own, for Kinesis to refuse by name).
pub(crate) fn plan_calls(records: &[Reingest]) -> Vec<Range<usize>> {
    let mut calls = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, record) in records.iter().enumerate() {
        let size = record.data.len() + record.partition_key.len();
        if i > start
            && (i - start == PUT_RECORDS_MAX_RECORDS || bytes + size > PUT_RECORDS_MAX_BYTES)
        {
            calls.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < records.len() {
        calls.push(start..records.len());
    }
    calls
}

/// Exponential backoff with full jitter: before retry `n` (from 0) wait a random time up to
/// `min(cap, base * 2^n)`, so many Lambdas throttled together do not retry together.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_secs(2),
        }
    }
}

impl Backoff {
    /// The ceiling of the wait before retry `attempt`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    pub fn delay(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis();
        Duration::from_millis(rng.u64(0..=u64::try_from(ceiling).unwrap_or(u64::MAX)))
    }
}

/// One record to put.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub data: &'a [u8],
    pub partition_key: &'a str,
}

/// What `PutRecords` said about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    Put,
    /// Not written; `code` is Kinesis's `ErrorCode` (e.g. `ProvisionedThroughputExceededException`).
    Failed {
        code: String,
    },
}

/// A whole `PutRecords` call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Throttling, a server error, a network failure, a timeout: worth another try.
    Retryable(String),
    /// The stream does not exist, access is denied, the request is invalid: retrying cannot help.
    Permanent(String),
}

/// The `PutRecords` operation, so the retry loop can be tested without a network.
pub trait PutRecords {
    /// Puts `entries` on `stream`; on success, one outcome per entry, in order.
    fn put_records(
        &self,
        stream: &StreamArn,
        entries: &[Entry<'_>],
    ) -> impl Future<Output = Result<Vec<EntryOutcome>, CallError>> + Send;
}

/// What putting records back took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutBackReport {
    pub records: usize,
    /// `PutRecords` calls made, retries included.
    pub calls: usize,
    /// Entries sent again after failing.
    pub retried_entries: usize,
}

/// Some records could not be put back: the invocation must fail.
#[derive(Debug, Error)]
pub enum PutBackError {
    #[error(
        "{not_put} of {total} records could not be put back on {stream} before the invocation's \
         deadline (last problem: {last})"
    )]
    Deadline {
        stream: String,
        not_put: usize,
        total: usize,
        last: String,
    },
    #[error("{not_put} of {total} records could not be put back on {stream}: {reason}")]
    Rejected {
        stream: String,
        not_put: usize,
        total: usize,
        reason: String,
    },
}

/// Why an oversize response could not be answered.
#[derive(Debug, Error)]
pub enum ReingestError {
    #[error(transparent)]
    Fit(#[from] FitError),
    #[error(transparent)]
    Arn(#[from] ArnError),
    #[error(transparent)]
    PutBack(#[from] PutBackError),
}

impl ReingestError {
    /// A stable name for the Lambda's `errorType`, for alarms and log queries.
    pub fn error_type(&self) -> &'static str {
        match self {
            ReingestError::Fit(e) => e.error_type(),
            ReingestError::Arn(_) => "BadSourceKinesisStreamArn",
            ReingestError::PutBack(PutBackError::Deadline { .. }) => "PutBackDeadline",
            ReingestError::PutBack(PutBackError::Rejected { .. }) => "PutBackRejected",
        }
    }
}

/// Puts `records` on `stream`, retrying failed entries (only those) with `backoff` until
/// `deadline`. Succeeds only when every record is on the stream.
pub(crate) async fn put_back<A: PutRecords>(
    api: &A,
    stream: &StreamArn,
    records: &[Reingest],
    deadline: Instant,
    backoff: Backoff,
) -> Result<PutBackReport, PutBackError> {
    let mut report = PutBackReport {
        records: records.len(),
        ..PutBackReport::default()
    };
    let mut put = 0;
    let mut rng = fastrand::Rng::new();
    for call in plan_calls(records) {
        let mut pending: Vec<usize> = call.collect();
        let mut attempt = 0;
        loop {
            let entries: Vec<Entry> = pending
                .iter()
                .map(|&i| Entry {
                    data: &records[i].data,
                    partition_key: &records[i].partition_key,
                })
                .collect();
            let left = deadline.saturating_duration_since(Instant::now());
            report.calls += 1;
            // Bounded by the deadline even when the endpoint stalls.
            let answer = tokio::time::timeout(left, api.put_records(stream, &entries)).await;
            let problem = match answer {
                Ok(Ok(outcomes)) if outcomes.len() == pending.len() => {
                    let mut first_code = None;
                    let before = pending.len();
                    pending = pending
                        .iter()
                        .zip(&outcomes)
                        .filter_map(|(&i, outcome)| match outcome {
                            EntryOutcome::Put => None,
                            EntryOutcome::Failed { code } => {
                                first_code.get_or_insert_with(|| code.clone());
                                Some(i)
                            }
                        })
                        .collect();
                    put += before - pending.len();
                    if pending.is_empty() {
                        break;
                    }
                    report.retried_entries += pending.len();
                    format!(
                        "{} entries failed, e.g. with {}",
                        pending.len(),
                        first_code.unwrap_or_default()
                    )
                }
                Ok(Ok(outcomes)) => format!(
                    "PutRecords answered {} entries for {} sent",
                    outcomes.len(),
                    pending.len()
                ),
                Ok(Err(CallError::Retryable(reason))) => reason,
                Ok(Err(CallError::Permanent(reason))) => {
                    return Err(PutBackError::Rejected {
                        stream: stream.arn.clone(),
                        not_put: records.len() - put,
                        total: records.len(),
                        reason,
                    })
                }
                Err(_) => "no answer before the deadline".to_owned(),
            };
            let delay = backoff.delay(attempt, &mut rng);
            attempt += 1;
            if Instant::now() + delay >= deadline {
                return Err(PutBackError::Deadline {
                    stream: stream.arn.clone(),
                    not_put: records.len() - put,
                    total: records.len(),
                    last: problem,
                });
            }
            tracing::debug!(attempt, pending = pending.len(), problem = %problem, "retrying PutRecords");
            tokio::time::sleep(delay).await;
        }
    }
    Ok(report)
}

/// Makes `batch` fit in `budget`: when its response is too large, the records that do not fit
/// are put back on the source stream and answered `Dropped`. Returns `None` when it already fit
/// (no call is made). On an error the batch must not be answered: fail the invocation.
pub async fn fit_and_put_back<A: PutRecords>(
    batch: &mut Batch,
    event: &[u8],
    budget: usize,
    api: &A,
    deadline: Instant,
) -> Result<Option<PutBackReport>, ReingestError> {
    if batch.response_len() <= budget {
        return Ok(None);
    }
    // Checked before any record is marked Dropped.
    let stream = match batch.source_kinesis_stream_arn.as_deref() {
        Some(arn) => Some(StreamArn::parse(arn)?),
        None => None,
    };
    let records = batch.fit(event, budget)?;
    let Some(stream) = stream else {
        // `fit` refuses a batch without a source stream; nothing was dropped.
        return Ok(None);
    };
    let report = put_back(api, &stream, &records, deadline, Backoff::default()).await?;
    tracing::info!(
        stream = %stream.arn,
        records = report.records,
        calls = report.calls,
        retried_entries = report.retried_entries,
        "records that did not fit in the response were put back on the source stream"
    );
    Ok(Some(report))
}

/// The [`Instant`] `margin` before the wall-clock `deadline` (the Lambda context's
/// `deadline()`), so the answer can still be sent; now, when that has passed.
pub fn deadline_instant(deadline: SystemTime, margin: Duration) -> Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
        .saturating_sub(margin);
    Instant::now() + left
}

/// `PutRecords` through the AWS SDK. Nothing is loaded or built until the first call, so a cold
/// start that never meets an oversize batch never pays for it; then the standard configuration
/// chain is read once (so `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_KINESIS` point it anywhere) and
/// one client is kept per region (the region comes from the stream's ARN).
pub struct KinesisApi {
    shared: OnceCell<SdkConfig>,
    clients: Mutex<Vec<(String, Client)>>,
}

impl KinesisApi {
    /// Reads the standard AWS configuration chain, on first use.
    pub fn from_environment() -> KinesisApi {
        KinesisApi {
            shared: OnceCell::new(),
            clients: Mutex::new(Vec::new()),
        }
    }

    /// Uses `config` instead of the environment's.
    pub fn with_config(config: SdkConfig) -> KinesisApi {
        KinesisApi {
            shared: OnceCell::new_with(Some(config)),
            clients: Mutex::new(Vec::new()),
        }
    }

    async fn client(&self, region: &str) -> Client {
        let shared = self
            .shared
            .get_or_init(|| aws_config::defaults(BehaviorVersion::latest()).load())
            .await;
        // No await while the lock is held; a poisoned list of clients is still a valid one.
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, client)) = clients.iter().find(|(r, _)| r == region) {
            return client.clone();
        }
        let config = aws_sdk_kinesis::config::Builder::from(shared)
            .region(Region::new(region.to_owned()))
            // `put_back` retries, bounded by the deadline; the SDK's own retries would not be.
            .retry_config(RetryConfig::disabled())
            .build();
        let client = Client::from_conf(config);
        clients.push((region.to_owned(), client.clone()));
        client
    }
}

impl PutRecords for KinesisApi {
    async fn put_records(
        &self,
        stream: &StreamArn,
        entries: &[Entry<'_>],
    ) -> Result<Vec<EntryOutcome>, CallError> {
        let client = self.client(&stream.region).await;
        let mut request = client.put_records().stream_arn(&stream.arn);
        for entry in entries {
            let entry = PutRecordsRequestEntry::builder()
                .data(Blob::new(entry.data))
                .partition_key(entry.partition_key)
                .build()
                .map_err(|e| CallError::Permanent(e.to_string()))?;
            request = request.records(entry);
        }
        let output = request.send().await.map_err(classify)?;
        Ok(output
            .records()
            .iter()
            .map(|r| match r.error_code() {
                None => EntryOutcome::Put,
                Some(code) => EntryOutcome::Failed {
                    code: code.to_owned(),
                },
            })
            .collect())
    }
}

fn classify(e: SdkError<PutRecordsError>) -> CallError {
    let text = DisplayErrorContext(&e).to_string();
    match &e {
        SdkError::ConstructionFailure(_) => CallError::Permanent(text),
        SdkError::ServiceError(service) => {
            let status = service.raw().status();
            let transient = matches!(
                service.err(),
                PutRecordsError::ProvisionedThroughputExceededException(_)
                    | PutRecordsError::KmsThrottlingException(_)
                    | PutRecordsError::InternalFailureException(_)
            ) || status.is_server_error()
                || status.as_u16() == 429;
            if transient {
                CallError::Retryable(text)
            } else {
                CallError::Permanent(text)
            }
        }
        // Connection refused or reset, timeouts, an unreadable answer.
        _ => CallError::Retryable(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn record(index: usize, data_len: usize, key: &str) -> Reingest {
        Reingest {
            index,
            record_id: format!("r{index}"),
            data: vec![b'x'; data_len],
            partition_key: key.to_owned(),
        }
    }

    #[test]
    fn calls_hold_at_most_500_records_and_5_mib() {
        let many: Vec<Reingest> = (0..1201).map(|i| record(i, 10, "k")).collect();
        assert_eq!(plan_calls(&many), vec![0..500, 500..1000, 1000..1201]);
        // 1 MiB records: five fit only without their keys, so four a call.
        let big: Vec<Reingest> = (0..9).map(|i| record(i, 1 << 20, "key")).collect();
        assert_eq!(plan_calls(&big), vec![0..4, 4..8, 8..9]);
        let exact: Vec<Reingest> = (0..5).map(|i| record(i, (1 << 20) - 1, "k")).collect();
        assert_eq!(plan_calls(&exact), vec![0..5]);
        let huge = vec![record(0, 6 << 20, "k"), record(1, 1, "k")];
        assert_eq!(plan_calls(&huge), vec![0..1, 1..2]);
        assert!(plan_calls(&[]).is_empty());
        for plan in [plan_calls(&many), plan_calls(&big)] {
            // Every record once, in order.
            let flat: Vec<usize> = plan.into_iter().flatten().collect();
            assert!(flat.windows(2).all(|w| w[1] == w[0] + 1));
        }
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter_below_it() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(0), Duration::from_millis(50));
        assert_eq!(b.ceiling(3), Duration::from_millis(400));
        assert_eq!(b.ceiling(10), Duration::from_secs(2));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(2));
        let mut rng = fastrand::Rng::with_seed(7);
        let delays: Vec<Duration> = (0..200).map(|_| b.delay(5, &mut rng)).collect();
        assert!(delays.iter().all(|d| *d <= b.ceiling(5)));
        assert!(delays.iter().any(|d| *d < b.ceiling(5) / 2), "jittered");
    }

    #[test]
    fn deadlines_from_the_wall_clock() {
        let now = SystemTime::now();
        let d = deadline_instant(now + Duration::from_secs(10), Duration::from_secs(1));
        let left = d.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(8) && left <= Duration::from_secs(9),
            "{left:?}"
        );
        let past = deadline_instant(now - Duration::from_secs(5), Duration::ZERO);
        assert!(past <= Instant::now());
    }

    /// Fails the entries `fail` says, call by call, and records what it was sent.
    struct Scripted {
        fail: fn(call: usize, key: &str) -> Option<CallError>,
        calls: AtomicUsize,
        sent: Mutex<Vec<Vec<String>>>,
        put: Mutex<Vec<String>>,
    }

    impl Scripted {
        fn new(fail: fn(usize, &str) -> Option<CallError>) -> Scripted {
            Scripted {
                fail,
                calls: AtomicUsize::new(0),
                sent: Mutex::new(Vec::new()),
                put: Mutex::new(Vec::new()),
            }
        }
    }

    impl PutRecords for Scripted {
        fn put_records(
            &self,
            _: &StreamArn,
            entries: &[Entry<'_>],
        ) -> impl Future<Output = Result<Vec<EntryOutcome>, CallError>> + Send {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            let keys: Vec<String> = entries.iter().map(|e| e.partition_key.to_owned()).collect();
            self.sent.lock().unwrap().push(keys.clone());
            let mut outcomes = Vec::new();
            let mut whole = None;
            for key in &keys {
                match (self.fail)(call, key) {
                    Some(CallError::Retryable(code)) if code == "entry" => {
                        outcomes.push(EntryOutcome::Failed {
                            code: "ProvisionedThroughputExceededException".into(),
                        })
                    }
                    Some(e) => whole = Some(e),
                    None => {
                        outcomes.push(EntryOutcome::Put);
                        self.put.lock().unwrap().push(key.clone());
                    }
                }
            }
            async move { whole.map_or(Ok(outcomes), Err) }
        }
    }

    fn stream() -> StreamArn {
        StreamArn::parse("arn:aws:kinesis:us-east-1:123456789012:stream/s").unwrap()
    }

    fn fast() -> Backoff {
        Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(4),
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn only_failed_entries_are_retried_until_all_are_put() {
        // Odd keys are throttled on the first two calls.
        let api = Scripted::new(|call, key| {
            let odd = key.trim_start_matches('k').parse::<usize>().unwrap() % 2 == 1;
            (odd && call < 2).then(|| CallError::Retryable("entry".into()))
        });
        let records: Vec<Reingest> = (0..6).map(|i| record(i, 3, &format!("k{i}"))).collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        let report = block_on(put_back(&api, &stream(), &records, deadline, fast())).unwrap();
        let sent = api.sent.lock().unwrap().clone();
        assert_eq!(sent[0], ["k0", "k1", "k2", "k3", "k4", "k5"]);
        assert_eq!(sent[1], ["k1", "k3", "k5"]);
        assert_eq!(sent[2], ["k1", "k3", "k5"]);
        assert_eq!(sent.len(), 3);
        let mut put = api.put.lock().unwrap().clone();
        put.sort();
        assert_eq!(put, ["k0", "k1", "k2", "k3", "k4", "k5"]);
        assert_eq!(
            report,
            PutBackReport {
                records: 6,
                calls: 3,
                retried_entries: 6
            }
        );
    }

    #[test]
    fn whole_call_failures_are_retried_and_permanent_ones_are_not() {
        let api = Scripted::new(|call, _| (call < 3).then(|| CallError::Retryable("503".into())));
        let records = vec![record(0, 1, "a")];
        let deadline = Instant::now() + Duration::from_secs(10);
        block_on(put_back(&api, &stream(), &records, deadline, fast())).unwrap();
        assert_eq!(api.calls.load(Ordering::SeqCst), 4);

        let api = Scripted::new(|_, _| Some(CallError::Permanent("ResourceNotFound".into())));
        let err = block_on(put_back(&api, &stream(), &records, deadline, fast())).unwrap_err();
        assert_eq!(api.calls.load(Ordering::SeqCst), 1);
        assert!(
            matches!(&err, PutBackError::Rejected { not_put: 1, total: 1, reason, .. } if reason == "ResourceNotFound"),
            "{err}"
        );
    }

    #[test]
    fn retries_stop_at_the_deadline() {
        let api = Scripted::new(|_, _| Some(CallError::Retryable("entry".into())));
        let records: Vec<Reingest> = (0..3).map(|i| record(i, 1, "k")).collect();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(300);
        let err = block_on(put_back(
            &api,
            &stream(),
            &records,
            deadline,
            Backoff::default(),
        ))
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_millis(600));
        assert!(api.calls.load(Ordering::SeqCst) >= 2);
        match err {
            PutBackError::Deadline {
                not_put,
                total,
                last,
                ..
            } => {
                assert_eq!((not_put, total), (3, 3));
                assert!(
                    last.contains("ProvisionedThroughputExceededException"),
                    "{last}"
                );
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_stalled_call_is_cut_at_the_deadline() {
        struct Stalls;
        impl PutRecords for Stalls {
            async fn put_records(
                &self,
                _: &StreamArn,
                _: &[Entry<'_>],
            ) -> Result<Vec<EntryOutcome>, CallError> {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(Vec::new())
            }
        }
        let started = Instant::now();
        let deadline = started + Duration::from_millis(200);
        let err = block_on(put_back(
            &Stalls,
            &stream(),
            &[record(0, 1, "k")],
            deadline,
            Backoff::default(),
        ))
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(err.to_string().contains("deadline"), "{err}");
    }

    #[test]
    fn a_short_answer_is_not_taken_as_success() {
        struct Short;
        impl PutRecords for Short {
            async fn put_records(
                &self,
                _: &StreamArn,
                _: &[Entry<'_>],
            ) -> Result<Vec<EntryOutcome>, CallError> {
                Ok(vec![EntryOutcome::Put])
            }
        }
        let records: Vec<Reingest> = (0..2).map(|i| record(i, 1, "k")).collect();
        let deadline = Instant::now() + Duration::from_millis(100);
        let err = block_on(put_back(&Short, &stream(), &records, deadline, fast())).unwrap_err();
        assert!(
            matches!(err, PutBackError::Deadline { not_put: 2, .. }),
            "{err}"
        );
    }
}
