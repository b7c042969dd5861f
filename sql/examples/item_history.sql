-- Every change of one item, oldest first, each change once even if it was delivered twice.
-- The changes table keeps the whole history; the current-state view only the latest image.
SELECT DISTINCT _event_time, _event_name, _event_id, status, total, _is_deleted
FROM "ddb_lake"."orders_changes"
WHERE "pk" = 'CUSTOMER#00042' AND "sk" = 'ORDER#2025-11-20#1001'
ORDER BY _event_time
