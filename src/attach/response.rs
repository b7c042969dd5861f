//! Sending the answer: an HTTP PUT of the response JSON to the request's pre-signed
//! `ResponseURL` (CloudFormation User Guide, "Custom resource response objects"; the URL is
//! signed for an empty `Content-Type`, so the PUT sends exactly that). It runs on the HTTP and
//! TLS stack the AWS SDK already brings (hyper-util's legacy client over hyper-rustls, rustls on
//! aws-lc-rs, the system's CA roots).

use super::error::AttachError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::IpAddr;
use std::time::Duration;

/// Attempts before giving up: S3 answers a pre-signed PUT with the odd 5xx or reset.
const ATTEMPTS: u32 = 4;
/// Bounds one attempt (connect, send, answer).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The pause after the first failed attempt, doubled after each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Checks a ResponseURL: `https`, or plain `http` to a loopback address only (a local stand-in
/// for S3; CloudFormation's pre-signed URLs are always https).
pub fn check_response_url(url: &str) -> Result<http::Uri, AttachError> {
    let bad = |reason| AttachError::BadResponseUrl {
        url: url.to_owned(),
        reason,
    };
    let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let host = uri.host().ok_or_else(|| bad("no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") => {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback =
                bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(uri)
            } else {
                Err(bad("plain http is only allowed to a loopback address"))
            }
        }
        _ => Err(bad("not an https URL")),
    }
}

/// The client that PUTs answers. Built once per process.
#[derive(Clone)]
pub struct Responder {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    backoff: Duration,
}

impl Responder {
    /// Loads the system's CA roots; fails when there are none.
    pub fn new() -> std::io::Result<Responder> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())?
            // http is refused by `check_response_url` unless it goes to loopback.
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Responder {
            client: Client::builder(TokioExecutor::new()).build(https),
            backoff: FIRST_BACKOFF,
        })
    }

    /// The same client with another first pause between attempts (tests use zero).
    pub fn with_backoff(mut self, backoff: Duration) -> Responder {
        self.backoff = backoff;
        self
    }

    /// PUTs `body` to `url`; retries connection failures, timeouts and 5xx answers, up to
    /// [`ATTEMPTS`] in all. A 4xx answer is final (a pre-signed URL that has expired or been
    /// altered does not get better).
    pub async fn put(&self, url: &str, body: Vec<u8>) -> Result<(), AttachError> {
        let uri = check_response_url(url)?;
        let body = Bytes::from(body);
        let mut pause = self.backoff;
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt(&uri, body.clone())).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err((message, retry))) => {
                    last = message;
                    if !retry {
                        break;
                    }
                }
                Err(_) => last = format!("no answer within {ATTEMPT_TIMEOUT:?}"),
            }
            tracing::warn!(attempt, error = %last, "PUT to the ResponseURL failed");
            if attempt < ATTEMPTS {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        Err(AttachError::ResponseNotDelivered(last))
    }

    /// One PUT: `Err((message, worth retrying))`.
    async fn attempt(&self, uri: &http::Uri, body: Bytes) -> Result<(), (String, bool)> {
        let request = http::Request::put(uri.clone())
            // Signed for no content type: send it empty.
            .header(http::header::CONTENT_TYPE, "")
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(Full::new(body))
            .map_err(|e| (e.to_string(), false))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| (format!("{e:?}"), true))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = match response.into_body().collect().await {
            Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
            Err(e) => e.to_string(),
        };
        let text: String = text.chars().take(500).collect();
        Err((format!("HTTP {status}: {text}"), status.is_server_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A loopback server answering its n-th request with `statuses[n]` (then 200), closing
    /// each connection; its URL and how many requests it saw.
    fn server(statuses: Vec<u16>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/r?X-Amz-Signature=1",
            listener.local_addr().unwrap()
        );
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let n = count.fetch_add(1, Ordering::SeqCst);
                let status = statuses.get(n).copied().unwrap_or(200);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope"
                );
                let mut stream = stream;
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        (url, seen)
    }

    fn responder() -> Responder {
        Responder::new().unwrap().with_backoff(Duration::ZERO)
    }

    #[tokio::test]
    async fn a_5xx_is_retried() {
        let (url, seen) = server(vec![503, 500]);
        responder().put(&url, b"{}".to_vec()).await.unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_4xx_is_final_and_reported() {
        let (url, seen) = server(vec![403]);
        let e = responder().put(&url, b"{}".to_vec()).await.unwrap_err();
        assert_eq!(e.code(), "ResponseNotDelivered");
        assert!(e.to_string().contains("403"), "{e}");
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retries_end_with_the_last_failure() {
        let (url, seen) = server(vec![502; 10]);
        let e = responder().put(&url, b"{}".to_vec()).await.unwrap_err();
        assert!(e.to_string().contains("502"), "{e}");
        assert_eq!(seen.load(Ordering::SeqCst), ATTEMPTS as usize);
    }

    #[test]
    fn https_anywhere_plain_http_only_to_loopback() {
        for ok in [
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/a?X-Amz-Signature=1",
            "http://127.0.0.1:8080/response",
            "http://localhost:1/r",
            "http://[::1]:9/r",
        ] {
            assert!(check_response_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/r",
            "http://10.0.0.1/r",
            "ftp://127.0.0.1/r",
            "not a url",
            "/relative",
        ] {
            let e = check_response_url(bad).unwrap_err();
            assert_eq!(e.code(), "BadResponseUrl", "{bad}");
        }
    }
}
