"""The current state of a table, computed from its rows without SQL: per primary key the latest
change by _event_time, each _event_id counted once, deleted keys left out. At equal times a row
with a Kinesis sequence number (the higher one) comes first, and a full export's row (_event_id
'export:…') after every other. The SQL tests compare the shipped Athena queries against it."""
from __future__ import annotations


def recency(r: dict) -> tuple:
    sequence = r.get("_kinesis_sequence_number")
    return (r["_event_time"], sequence is not None, len(sequence or ""), sequence or "",
            not r["_event_id"].startswith("export:"))


def expected_current_state(rows: list[dict]) -> dict[tuple, dict]:
    latest: dict[tuple, dict] = {}
    seen = set()
    for r in rows:
        if r["_event_id"] in seen:
            continue
        seen.add(r["_event_id"])
        key = (r["pk"], r["sk"])
        if key not in latest or recency(r) > recency(latest[key]):
            latest[key] = r
    return {k: r for k, r in latest.items() if not r["_is_deleted"]}
