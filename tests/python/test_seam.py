"""The seam between DynamoDB exports and the stream, on a simulated timeline: a table changes for
eight hours; the stream is connected at 01:00, a full export is taken at 02:00, the stream misses
everything between 04:00 and 06:00 (its consumer was down for longer than the stream keeps
records), and an incremental export fills that gap. The stream's rows go in with `ddb-lake
replay`, the exports with `ddb-lake backfill`, and the shipped current-state view (sql/, run on
DuckDB) must then equal the table's true final state: no change missing, none counted twice.
`ddb-lake coverage` must find the gap when nothing fills it, and nothing when the export does.

Exports are written in the documented layout ("DynamoDB table export output format"): an
incremental export keeps, per item changed in its window, only the last write (an item inserted
and deleted within the window is not in it), with OldImage only in the NEW_AND_OLD_IMAGES view.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from lake_sql import athena, connect, infer_tables, infer_views  # noqa: E402

SQL = ROOT / "sql"

HOUR = 3_600_000_000  # µs
MINUTE = 60_000_000
B = 1_763_596_800_000_000  # 2025-11-20T00:00:00Z, µs
S = B + 1 * HOUR  # the stream is connected
T = B + 2 * HOUR  # full export time
OUTAGE = (B + 4 * HOUR, B + 6 * HOUR)  # the stream misses the writes in here
END = B + 8 * HOUR
FULL_ID = "01763604900000-a11f0e11"
INCREMENTAL_ID = "01763627400000-1ac2e3a1"


@pytest.fixture(scope="module")
def binary(cargo_bin) -> Path:
    return cargo_bin("ddb-lake")


def iso(micros: int, digits: int = 3) -> str:
    t = datetime.fromtimestamp(micros // 1_000_000, tz=timezone.utc)
    fraction = f"{micros % 1_000_000:06d}"[:digits]
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + "Z"


def item(pk: str, sk: str, status: str, total: str, city: str, tags: list[str]) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}, "status": {"S": status},
            "customer_id": {"S": pk.split("#")[1]}, "total": {"N": total}, "currency": {"S": "EUR"},
            "created_at": {"S": "2025-11-19T12:00:00Z"}, "expires_at": {"N": "1900000000"},
            "address": {"M": {"city": {"S": city}, "postcode": {"S": "8001"}}},
            "tags": {"SS": tags}}


def keys_of(image: dict) -> dict:
    return {"pk": image["pk"], "sk": image["sk"]}


def key_of(image: dict) -> tuple:
    return (image["pk"]["S"], image["sk"]["S"])


def timeline() -> list[tuple[int, tuple, dict | None]]:
    """The table's writes: (µs, key, new image or None for a delete), in time order, with the
    cases that matter at the seams placed on purpose and random traffic in between."""
    rng = random.Random(20251120)
    writes: list[tuple[int, tuple, dict | None]] = []
    live: dict[tuple, dict] = {}

    def write(at: int, image: dict | None, key: tuple | None = None):
        k = key or key_of(image)
        writes.append((at, k, image))
        if image is None:
            live.pop(k, None)
        else:
            live[k] = image

    def put(at: int, n: int, status: str, city="Zürich", tags=("gift",)):
        write(at, item(f"CUSTOMER#{n:05d}", f"ORDER#{n:05d}", status, f"{n}.50", city, list(tags)))

    # Before the stream: only the full export knows these. Random traffic below touches items
    # 1-40 only; items from 50 on are the cases placed on purpose.
    for n in [*range(1, 21), 50, 60]:
        put(B + n * MINUTE // 2, n, "NEW")
    write(B + 30 * MINUTE, None, key_of(item("CUSTOMER#00003", "ORDER#00003", "", "1", "", ["x"])))
    # Stream connected; until the export, changes are in both.
    put(S + 5 * MINUTE, 1, "PAID")
    put(S + 6 * MINUTE, 21, "NEW")                     # inserted, then in the export
    put(S + 7 * MINUTE, 22, "NEW")
    write(S + 8 * MINUTE, None, ("CUSTOMER#00022", "ORDER#00022"))  # inserted and deleted
    write(S + 9 * MINUTE, None, ("CUSTOMER#00004", "ORDER#00004"))  # a delete the export omits
    # At exactly the export time: the export (the table just before T) does not show it, the
    # stream's row has the export's time: the stream's row must win.
    put(T, 50, "PAID", "Bern")
    # Random traffic, every 1-10 minutes, on items 1-40.
    at = T + MINUTE
    while at < END:
        n = rng.randrange(1, 41)
        k = (f"CUSTOMER#{n:05d}", f"ORDER#{n:05d}")
        if k in live and rng.random() < 0.2:
            write(at, None, k)
        else:
            put(at, n, rng.choice(["NEW", "PAID", "SHIPPED", "DELIVERED"]),
                rng.choice(["Zürich", "Genève", "Basel"]), rng.sample(["gift", "express", "bulk"], 2))
        at += rng.randrange(1, 11) * MINUTE + rng.randrange(0, 1_000_000)
    # Inside the outage: an insert and delete of the same item (in neither source), and a
    # delete of an item the export had.
    put(OUTAGE[0] + 20 * MINUTE + 7, 90, "NEW")
    write(OUTAGE[0] + 25 * MINUTE + 7, None, ("CUSTOMER#00090", "ORDER#00090"))
    write(OUTAGE[0] + 40 * MINUTE + 7, None, ("CUSTOMER#00060", "ORDER#00060"))
    writes.sort(key=lambda w: w[0])
    return writes


def state_at(writes, before: int) -> dict[tuple, dict]:
    state: dict[tuple, dict] = {}
    for at, k, image in writes:
        if at >= before:
            break
        if image is None:
            state.pop(k, None)
        else:
            state[k] = image
    return state


def stream_records(writes, connected: int, lost: tuple[int, int] | None) -> list[str]:
    """Kinesis Data Streams for DynamoDB records (millisecond precision) for the writes the
    stream delivered; one of them delivered twice."""
    records = []
    previous: dict[tuple, dict] = {}
    for i, (at, k, image) in enumerate(writes):
        old = previous.get(k)
        if image is None:
            previous.pop(k, None)
        else:
            previous[k] = image
        if at < connected or (lost and lost[0] <= at < lost[1]):
            continue
        name = "REMOVE" if image is None else ("MODIFY" if old else "INSERT")
        dynamodb = {"ApproximateCreationDateTime": at // 1000, "Keys": {"pk": {"S": k[0]}, "sk": {"S": k[1]}}}
        if image is not None:
            dynamodb["NewImage"] = image
        if old is not None:
            dynamodb["OldImage"] = old
        records.append(json.dumps({"awsRegion": "eu-central-1", "eventID": f"stream-{i:05d}",
                                   "eventName": name, "userIdentity": None,
                                   "recordFormat": "application/json", "tableName": "orders",
                                   "dynamodb": dynamodb, "eventSource": "aws:dynamodb"}))
    return records + records[10:11]


def gz(text: str) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as f:
        f.write(text.encode())
    return buf.getvalue()


def write_export(folder: Path, export_id: str, lines: list[str], summary: dict) -> Path:
    """An export folder as DynamoDB writes it: the lines in two data files and an empty one."""
    (folder / "data").mkdir(parents=True)
    parts = [lines[0::2], lines[1::2], []]
    manifest = ""
    for i, part in enumerate(parts):
        data = gz("".join(line + "\n" for line in part)) if part else b""
        (folder / "data" / f"part{i}.json.gz").write_bytes(data)
        manifest += json.dumps({"itemCount": len(part),
                                "md5Checksum": base64.b64encode(hashlib.md5(data).digest()).decode(),
                                "etag": hashlib.md5(data).hexdigest() + "-1",
                                "dataFileS3Key": f"exports/AWSDynamoDB/{export_id}/data/part{i}.json.gz"}) + "\n"
    (folder / "manifest-files.json").write_text(manifest)
    (folder / "manifest-summary.json").write_text(json.dumps({
        "version": "2020-06-30",
        "exportArn": f"arn:aws:dynamodb:eu-central-1:111122223333:table/orders/export/{export_id}",
        "tableArn": "arn:aws:dynamodb:eu-central-1:111122223333:table/orders",
        "itemCount": len(lines), "outputFormat": "DYNAMODB_JSON", **summary}))
    return folder


def full_export(folder: Path, writes, at: int, export_id: str = FULL_ID) -> Path:
    lines = [json.dumps({"Item": image}) for image in state_at(writes, at).values()]
    return write_export(folder, export_id, lines, {"exportTime": iso(at), "exportType": "FULL_EXPORT"})


def incremental_export(folder: Path, writes, start: int, end: int, view: str,
                       export_id: str = INCREMENTAL_ID) -> Path:
    """The items changed in [start, end), each as its last write in the window."""
    before = state_at(writes, start)
    last: dict[tuple, tuple[int, dict | None]] = {}
    for at, k, image in writes:
        if start <= at < end:
            last[k] = (at, image)
    lines = []
    for k, (at, image) in last.items():
        old = before.get(k)
        if image is None and old is None:
            continue  # inserted and deleted within the window
        record = {"Metadata": {"WriteTimestampMicros": {"N": str(at)}},
                  "Keys": {"pk": {"S": k[0]}, "sk": {"S": k[1]}}}
        if image is not None:
            record["NewImage"] = image
        if old is not None and view == "NEW_AND_OLD_IMAGES":
            record["OldImage"] = old
        lines.append(json.dumps(record))
    return write_export(folder, export_id, lines, {
        "exportFromTime": iso(start), "exportToTime": iso(end), "outputView": view,
        "exportType": "INCREMENTAL_EXPORT"})


def run(binary: Path, *args, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return done


def replay(binary: Path, lake: Path, records: list[str]) -> None:
    path = lake.parent / f"{lake.name}-stream.jsonl"
    path.write_text("".join(r + "\n" for r in records))
    run(binary, "replay", path, "--lake", lake)


def current_state(lake: Path, binary: Path) -> dict[tuple, dict]:
    db = connect(lake, infer_tables(lake, binary=str(binary)))
    athena(db, infer_views(lake, binary=str(binary)))
    return {(r["pk"], r["sk"]): r for r in athena(db, 'SELECT * FROM "ddb_lake"."orders_changes_current"')}


def as_view_row(image: dict) -> dict:
    """What the current-state view shows of an item."""
    return {"status": image["status"]["S"], "customer_id": image["customer_id"]["S"],
            "total": Decimal(image["total"]["N"]), "currency": image["currency"]["S"],
            "address_city": image["address"]["M"]["city"]["S"], "tags": image["tags"]["SS"]}


def assert_state_is(got: dict[tuple, dict], truth: dict[tuple, dict], writes) -> None:
    assert set(got) == set(truth), (sorted(set(got) - set(truth)), sorted(set(truth) - set(got)))
    last_write = {k: at for at, k, _ in writes}
    for k, image in truth.items():
        row = got[k]
        assert {c: row[c] for c in as_view_row(image)} == as_view_row(image), k
        # _event_time is the last write's time (a stream row's to the millisecond), or the full
        # export's time for an item not written since.
        changed = datetime.strptime(row["_event_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        micros = int(changed.timestamp()) * 1_000_000 + changed.microsecond
        want = max(last_write[k], T)
        assert 0 <= want - micros < 1000, (k, row["_event_time"], iso(want, 6))


def stale_items(lake: Path, binary: Path, export_id: str, start: int, end: int) -> list[tuple]:
    """sql/incremental_export_check.sql for one incremental export."""
    db = connect(lake, infer_tables(lake, binary=str(binary)))
    athena(db, infer_views(lake, binary=str(binary)))
    sql = ((SQL / "incremental_export_check.sql").read_text().replace("<ExportId>", export_id)
           .replace("<ExportFromTime>", iso(start)).replace("<ExportToTime>", iso(end)))
    return [(r["pk"], r["sk"]) for r in athena(db, sql)]


def seam_window(writes) -> tuple[int, int]:
    """The incremental export's window: from the stream's last change before the gap, rounded
    down to the second (ExportFromTime's unit), to half an hour after the stream resumed."""
    last_seen = max(at for at, _, _ in writes if S <= at < OUTAGE[0])
    return last_seen - last_seen % 1_000_000, OUTAGE[1] + 30 * MINUTE


@pytest.mark.parametrize("view", ["NEW_AND_OLD_IMAGES", "NEW_IMAGE"])
def test_stream_full_export_and_incremental_export_give_the_true_state(tmp_path, binary, view):
    writes = timeline()
    truth = state_at(writes, END + 1)
    lake = tmp_path / "lake"
    start, end = seam_window(writes)
    # The procedure: the stream first, then the full export; the incremental export over the gap.
    replay(binary, lake, stream_records(writes, S, OUTAGE))
    run(binary, "backfill", full_export(tmp_path / "full", writes, T), "--lake", lake)
    incremental = incremental_export(tmp_path / "incremental", writes, start, end, view)
    run(binary, "backfill", incremental, "--lake", lake)

    got = current_state(lake, binary)
    assert_state_is(got, truth, writes)
    # The write at exactly the export time is the stream's row, not the export's older image.
    at_t = got[("CUSTOMER#00050", "ORDER#00050")]
    assert (at_t["status"], at_t["_event_time"]) == ("PAID", "2025-11-20T02:00:00.000000Z")
    # The item the export had and the gap deleted is gone; the one inserted and deleted in the
    # gap never appears.
    assert ("CUSTOMER#00060", "ORDER#00060") not in got
    assert ("CUSTOMER#00090", "ORDER#00090") not in got
    # The documented check finds no item the window's start could have left stale.
    assert stale_items(lake, binary, INCREMENTAL_ID, start, end) == []
    # Loading everything again changes nothing.
    replay(binary, lake, stream_records(writes, S, OUTAGE))
    run(binary, "backfill", incremental, "--lake", lake)
    assert current_state(lake, binary) == got

    # The coverage check agrees: nothing is missing (traffic is never 30 minutes apart).
    report = run(binary, "coverage", "--lake", lake, "--max-quiet", "30m").stdout
    assert report.endswith("  no holes\n"), report
    assert f"incremental export {INCREMENTAL_ID}: the changes in [{iso(start, 6)}, {iso(end, 6)})" in report


def test_without_the_incremental_export_the_gap_shows(tmp_path, binary):
    writes = timeline()
    truth = state_at(writes, END + 1)
    lake = tmp_path / "lake"
    replay(binary, lake, stream_records(writes, S, OUTAGE))
    run(binary, "backfill", full_export(tmp_path / "full", writes, T), "--lake", lake)
    got = current_state(lake, binary)
    # The delete in the gap was lost: the lake still shows the item.
    assert ("CUSTOMER#00060", "ORDER#00060") in got and ("CUSTOMER#00060", "ORDER#00060") not in truth
    done = run(binary, "coverage", "--lake", lake, "--max-quiet", "30m", ok=False)
    gap_from = max(at for at, _, _ in writes if S <= at < OUTAGE[0]) // 1000 * 1000
    gap_to = min(at for at, _, _ in writes if at >= OUTAGE[1]) // 1000 * 1000
    assert f"HOLE from {iso(gap_from, 6)} to {iso(gap_to, 6)}" in done.stdout, done.stdout
    assert "the lake may miss changes of orders (1 hole" in done.stderr


def test_a_full_export_taken_before_the_stream_is_connected_leaves_a_hole(tmp_path, binary):
    """The wrong order: the export at 02:00, the stream only from 03:00. The changes in between
    are in neither; coverage says so."""
    writes = timeline()
    lake = tmp_path / "lake"
    replay(binary, lake, stream_records(writes, T + HOUR, None))
    run(binary, "backfill", full_export(tmp_path / "full", writes, T), "--lake", lake)
    with pytest.raises(AssertionError):
        assert_state_is(current_state(lake, binary), state_at(writes, END + 1), writes)
    done = run(binary, "coverage", "--lake", lake, "--max-quiet", "30m", ok=False)
    assert f"HOLE from {iso(T, 6)} to " in done.stdout, done.stdout
    assert f"nothing between full export {FULL_ID} and the stream" in done.stdout


def test_equal_times_resolve_to_the_change(tmp_path, binary):
    """A full export shows the table at T; a write at exactly T is a change after that state (the
    full export does not show it here). Its incremental export row and the export's row have the
    same _event_time: the change must win. Without an explicit rule the engine's order decides
    (DuckDB's follows the rows' _event_id, so several export ids are tried). A stream row at T
    wins over the export's row too."""
    old = item("CUSTOMER#00001", "ORDER#00001", "NEW", "1.50", "Basel", ["gift"])
    new = item("CUSTOMER#00001", "ORDER#00001", "PAID", "1.50", "Basel", ["gift"])
    other_old = item("CUSTOMER#00002", "ORDER#00002", "NEW", "2.50", "Basel", ["gift"])
    other_new = item("CUSTOMER#00002", "ORDER#00002", "SHIPPED", "2.50", "Basel", ["gift"])
    writes = [(T - HOUR, key_of(old), old), (T - HOUR, key_of(other_old), other_old),
              (T, key_of(new), new), (T, key_of(other_new), other_new)]
    # Item 1's change comes from an incremental export, item 2's from the stream.
    only_1 = [w for w in writes if w[1] == key_of(new)]
    stream = tmp_path / "stream.jsonl"
    stream.write_text("".join(r + "\n" for r in stream_records(
        [w for w in writes if w[1] == key_of(other_new)], T, None)))
    for i in range(8):
        export_id = f"0176360490000{i}-a11f0e{i:02d}"
        lake = tmp_path / export_id
        run(binary, "backfill", full_export(tmp_path / f"full-{i}", writes, T, export_id), "--lake", lake)
        run(binary, "backfill", incremental_export(tmp_path / f"inc-{i}", only_1, T, T + HOUR,
                                                   "NEW_AND_OLD_IMAGES"), "--lake", lake)
        run(binary, "replay", stream, "--lake", lake)
        got = current_state(lake, binary)
        assert got[key_of(new)]["status"] == "PAID", export_id
        assert got[key_of(other_new)]["status"] == "SHIPPED", export_id
        assert {r["_event_time"] for r in got.values()} == {"2025-11-20T02:00:00.000000Z"}


def test_an_item_inserted_just_before_the_gap_and_deleted_in_it_is_found(tmp_path, binary):
    """The one case a window starting at the stream's last row cannot cover: the stream saw an
    item inserted in the window's first second, and the gap deleted it. The export leaves the item
    out (inserted and deleted within its window), so the stream's INSERT stays its latest row.
    sql/incremental_export_check.sql finds it; a second export starting a second later fixes it."""
    writes = [w for w in timeline() if not (OUTAGE[0] - 10 * MINUTE <= w[0] < OUTAGE[0])]
    last = max(at for at, _, _ in writes if at < OUTAGE[0])
    inserted = item("CUSTOMER#00070", "ORDER#00070", "NEW", "7.00", "Basel", ["gift"])
    at = last - last % 1_000_000 + 1_000_000 - 1  # the end of the second of the stream's last row
    writes += [(at, key_of(inserted), inserted), (OUTAGE[0] + 30 * MINUTE, key_of(inserted), None)]
    writes.sort(key=lambda w: w[0])
    truth = state_at(writes, END + 1)
    lake = tmp_path / "lake"
    replay(binary, lake, stream_records(writes, S, (at + 1, OUTAGE[1])))
    run(binary, "backfill", full_export(tmp_path / "full", writes, T), "--lake", lake)
    start, end = at - at % 1_000_000, OUTAGE[1] + 30 * MINUTE
    run(binary, "backfill", incremental_export(tmp_path / "inc", writes, start, end, "NEW_IMAGE"),
        "--lake", lake)
    assert key_of(inserted) in current_state(lake, binary)
    assert stale_items(lake, binary, INCREMENTAL_ID, start, end) == [key_of(inserted)]

    later = "01763627460000-1ac2e3a2"
    run(binary, "backfill", incremental_export(tmp_path / "inc2", writes, start + 1_000_000, end,
                                               "NEW_IMAGE", later), "--lake", lake)
    assert_state_is(current_state(lake, binary), truth, writes)
    assert stale_items(lake, binary, later, start + 1_000_000, end) == []
