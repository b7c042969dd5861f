-- Changes per hour and kind, from the partition columns; duplicate deliveries counted once.
SELECT "table", year, month, day, hour, _event_name, count(DISTINCT _event_id) AS changes
FROM "ddb_lake"."orders_changes"
WHERE year = '2025' AND month = '11' AND day = '20'
GROUP BY "table", year, month, day, hour, _event_name
ORDER BY year, month, day, hour, _event_name
