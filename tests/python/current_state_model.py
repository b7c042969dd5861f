"""The current state of a table, computed from its rows without SQL: per primary key the latest
change by _event_time, each _event_id counted once, deleted keys left out. The SQL tests compare
the shipped Athena queries against it."""
from __future__ import annotations


def expected_current_state(rows: list[dict]) -> dict[tuple, dict]:
    latest: dict[tuple, dict] = {}
    seen = set()
    for r in rows:
        if r["_event_id"] in seen:
            continue
        seen.add(r["_event_id"])
        key = (r["pk"], r["sk"])
        if key not in latest or r["_event_time"] > latest[key]["_event_time"]:
            latest[key] = r
    return {k: r for k, r in latest.items() if not r["_is_deleted"]}
