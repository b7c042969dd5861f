#!/usr/bin/env python3
"""Waits for a deployed lake's rows to land in S3, decodes them and checks them.

The S3-reading half of scripts/smoke-test.sh (which makes the DynamoDB changes and runs Athena).
It lists the hourly partitions Firehose writes to,

    s3://BUCKET/PREFIX table=TABLE/year=YYYY/month=MM/day=DD/hour=HH/<objects, gzip>

from --since until now, decodes every new object (gzip or plain newline-delimited JSON) and keeps
the rows whose --match column has the given value. It succeeds when every row of --expect has
arrived, and checks each arrived row against the transform contract on the way.

Exit status: 0 all expected rows arrived and are well formed; 1 a row did not arrive in time;
2 rows arrived but break the contract (or an object is not valid newline-delimited JSON).
"""
from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import re
import sys
import time
from decimal import Decimal
from typing import Any, Callable, Iterable

METADATA_COLUMNS = [
    "_event_name", "_event_id", "_event_time", "_table_name", "_aws_region", "_is_deleted",
    "_expired_by_ttl",
]
# Then the stream's position, by change source: the Kinesis record's (KinesisDataStreams), or the
# DynamoDB stream record's sequence number (DynamoDBStreams: put into Firehose directly, so no
# Kinesis columns).
SOURCE_COLUMNS = [
    ["_kinesis_shard_id", "_kinesis_sequence_number"],
    ["_stream_sequence_number"],
]
EVENT_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):\d{2}:\d{2}\.\d{6}Z$")
PARTITION = re.compile(r"table=([^/]+)/year=(\d{4})/month=(\d{2})/day=(\d{2})/hour=(\d{2})/[^/]+$")
DYNAMODB_TAGS = {"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"}


class ContractError(Exception):
    """A row arrived but is not what the transform contract promises."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", required=True, help="the lake prefix (TablePrefix output), e.g. lake/")
    p.add_argument("--table", required=True, help="DynamoDB table name (the `table` partition)")
    p.add_argument("--match", required=True, metavar="COLUMN=VALUE",
                   help="keep only rows whose COLUMN equals VALUE (e.g. the smoke test's partition key)")
    p.add_argument("--expect", required=True, metavar="FILE",
                   help="JSON list of partial rows; each must be matched by one arrived row")
    p.add_argument("--since", required=True, metavar="RFC3339",
                   help="when the changes were made (UTC); partitions from the hour before are read")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="seconds to wait for all rows (Firehose buffers up to 1.5 x its interval)")
    p.add_argument("--poll", type=float, default=15.0, help="seconds between listings")
    p.add_argument("--error-prefix", default="errors/",
                   help="Firehose error prefix; objects found there are reported on timeout")
    p.add_argument("--region", default=None)
    p.add_argument("--endpoint-url", default=None, help="S3 endpoint (tests)")
    p.add_argument("--print-rows", action="store_true", help="print the matching rows")
    return p.parse_args(argv)


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.timezone.utc)


def hour_prefixes(prefix: str, table: str, since: dt.datetime, until: dt.datetime) -> list[str]:
    """One S3 prefix per hour from the hour before `since` to the hour after `until` (clock skew,
    and Firehose partitions by the change time, which is slightly before our `since`)."""
    hour = since.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=1)
    last = until + dt.timedelta(hours=1)
    out = []
    while hour <= last:
        out.append(f"{prefix}table={table}/year={hour:%Y}/month={hour:%m}/day={hour:%d}/hour={hour:%H}/")
        hour += dt.timedelta(hours=1)
    return out


def decode_object(key: str, body: bytes) -> list[dict[str, Any]]:
    """Rows of one Firehose object: gzip (by magic bytes) or plain, one JSON object per line."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    rows = []
    for number, line in enumerate(body.decode("utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            # Decimal keeps DynamoDB numbers exact (38 digits survive).
            row = json.loads(line, parse_float=Decimal, object_pairs_hook=_ordered_no_duplicates)
        except ValueError as e:
            raise ContractError(f"s3 object {key} line {number} is not JSON: {e}") from None
        if not isinstance(row, dict):
            raise ContractError(f"s3 object {key} line {number} is not a JSON object")
        rows.append(row)
    return rows


def _ordered_no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen = dict(pairs)
    if len(seen) != len(pairs):
        names = [k for k, _ in pairs]
        raise ValueError(f"duplicate column {sorted({n for n in names if names.count(n) > 1})}")
    return seen


def check_row(key: str, row: dict[str, Any], table: str) -> None:
    """The contract's promises for one row written by Firehose under `key`."""
    where = f"row {row.get('_event_id', '?')} in {key}"
    columns = list(row)
    layouts = [METADATA_COLUMNS + tail for tail in SOURCE_COLUMNS]
    if not any(columns[: len(layout)] == layout for layout in layouts):
        longest = max(len(layout) for layout in layouts)
        raise ContractError(f"{where}: metadata columns should come first, in this order: "
                            f"{' or '.join(map(str, layouts))}; got {columns[:longest]}")
    if row["_event_name"] not in ("INSERT", "MODIFY", "REMOVE"):
        raise ContractError(f"{where}: unknown _event_name {row['_event_name']!r}")
    if row["_is_deleted"] is not (row["_event_name"] == "REMOVE"):
        raise ContractError(f"{where}: _is_deleted is {row['_is_deleted']!r} for {row['_event_name']}")
    if not isinstance(row["_expired_by_ttl"], bool):
        raise ContractError(f"{where}: _expired_by_ttl is not a boolean")
    if row["_table_name"] != table:
        raise ContractError(f"{where}: _table_name {row['_table_name']!r}, expected {table!r}")
    when = EVENT_TIME.match(str(row["_event_time"]))
    if not when:
        raise ContractError(f"{where}: _event_time {row['_event_time']!r} is not RFC 3339 UTC with microseconds")
    part = PARTITION.search(key)
    if not part:
        raise ContractError(f"{key}: not under table=/year=/month=/day=/hour=/")
    if part.group(1) != table or part.groups()[1:] != when.groups():
        raise ContractError(f"{where}: partition {'/'.join(part.groups())} does not match "
                            f"table {table} and _event_time {row['_event_time']}")
    for name, value in row.items():
        # Maps are flattened into columns, so no top-level value is an object; a leftover
        # DynamoDB type tag ({"S": ...}) would be one.
        if isinstance(value, dict):
            tag = f" (DynamoDB type tag {next(iter(value))})" if set(value) <= DYNAMODB_TAGS and len(value) == 1 else ""
            raise ContractError(f"{where}: column {name!r} holds an object{tag}; maps must be flattened")


def same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float, Decimal)) and isinstance(actual, (int, float, Decimal)):
        return Decimal(str(expected)) == Decimal(str(actual))
    return expected == actual


def matches(expected: dict[str, Any], row: dict[str, Any]) -> bool:
    return all(name in row and same(value, row[name]) for name, value in expected.items())


def describe(expected: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in expected.items())


class Lake:
    """Reads new objects of the lake's hourly partitions (each object once)."""

    def __init__(self, s3: Any, bucket: str):
        self.s3, self.bucket = s3, bucket
        self.read: set[tuple[str, str]] = set()

    def keys(self, prefix: str) -> Iterable[tuple[str, str]]:
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"], obj["ETag"]

    def new_rows(self, prefixes: list[str]) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for prefix in prefixes:
            for key, etag in self.keys(prefix):
                if (key, etag) in self.read:
                    continue
                body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                self.read.add((key, etag))
                out.extend((key, row) for row in decode_object(key, body))
        return out


def run(args: argparse.Namespace, s3: Any, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep, now: Callable[[], dt.datetime] | None = None) -> int:
    now = now or (lambda: dt.datetime.now(dt.timezone.utc))
    column, _, value = args.match.partition("=")
    expected: list[dict[str, Any]] = json.load(open(args.expect), parse_float=Decimal)
    since = parse_time(args.since)
    lake = Lake(s3, args.bucket)
    found: list[tuple[str, dict[str, Any]]] = []
    deadline = clock() + args.timeout
    while True:
        try:
            for key, row in lake.new_rows(hour_prefixes(args.prefix, args.table, since, now())):
                if str(row.get(column)) == value:
                    check_row(key, row, args.table)
                    found.append((key, row))
        except ContractError as e:
            print(f"FAIL: {e}", file=sys.stderr)
            return 2
        missing = [e for e in expected if not any(matches(e, row) for _, row in found)]
        if not missing:
            break
        if clock() >= deadline:
            print(f"FAIL: timed out after {args.timeout:g} s waiting for {len(missing)} of "
                  f"{len(expected)} rows with {args.match} under s3://{args.bucket}/{args.prefix}"
                  f"table={args.table}/", file=sys.stderr)
            for e in missing:
                print(f"  missing: {describe(e)}", file=sys.stderr)
            arrived = [f"{r['_event_name']} at {r['_event_time']}" for _, r in found]
            print(f"  arrived: {', '.join(arrived) or 'nothing'}", file=sys.stderr)
            errors = sum(1 for _ in lake.keys(args.error_prefix))
            if errors:
                print(f"  {errors} object(s) under s3://{args.bucket}/{args.error_prefix}: Firehose could not "
                      f"process or deliver some records; see the Firehose and Lambda logs", file=sys.stderr)
            return 1
        print(f"waiting: {len(expected) - len(missing)}/{len(expected)} rows arrived", flush=True)
        sleep(max(0.0, min(args.poll, deadline - clock())))
    print(f"OK: {len(expected)} expected rows arrived ({len(found)} rows with {args.match}); "
          f"all follow the transform contract")
    if args.print_rows:
        for key, row in found:
            print(f"{key}: {json.dumps(row, default=str)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import boto3  # imported here so --help works without it

    s3 = boto3.client("s3", region_name=args.region, endpoint_url=args.endpoint_url)
    return run(args, s3)


if __name__ == "__main__":
    sys.exit(main())
