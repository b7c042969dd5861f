//! The integration tests against a real Kinesis, S3 and DynamoDB API: `moto_server` on a free
//! loopback port, started by the harness (tests/common/moto.rs). One test binary, built only with
//! `--features moto-tests` because it needs `moto_server` on PATH: scripts/test.sh turns the
//! feature on and puts the project's Python tools on PATH.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/fault_proxy.rs"]
mod fault_proxy;
#[path = "../common/moto.rs"]
mod moto;

mod attach;
mod backfill_s3;
mod faults;
mod keeper;
mod reingest;
mod table_attach_binary;
