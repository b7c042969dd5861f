-- After loading an incremental export that fills a gap in the stream: the items the current state
-- shows as last changed inside the export's window but that the export does not hold. The export
-- holds every item changed in its window, except one inserted and deleted within it; so such an
-- item was deleted, and the stream's row that still shows it is stale (the stream saw it
-- inserted before the gap, not deleted in it). Expect no rows. For rows, load one more
-- incremental export whose window starts after their _event_time (to the same end): the items
-- then existed before its window, and it holds their deletes. Replace <ExportId>,
-- <ExportFromTime> and <ExportToTime> (as `ddb-lake backfill` prints them), and the orders table's
-- names and key columns ("pk", "sk") with your table's. Needs the table's current-state view (made
-- by the schema keeper; `ddb-lake schema --lake DIR --views` prints it).
SELECT c."pk", c."sk", c._event_time
FROM "ddb_lake"."orders_changes_current" c
WHERE from_iso8601_timestamp(c._event_time) >= from_iso8601_timestamp('<ExportFromTime>')
  AND from_iso8601_timestamp(c._event_time) < from_iso8601_timestamp('<ExportToTime>')
  AND NOT EXISTS (
    SELECT 1
    FROM "ddb_lake"."orders_changes" e
    WHERE e._event_id LIKE 'incremental-export:<ExportId>:%'
      AND e."pk" = c."pk" AND e."sk" = c."sk"
  )
ORDER BY c."pk", c."sk"
