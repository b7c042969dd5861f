-- Changes per hour and kind, from the partition columns; duplicate deliveries counted once.
-- The filter on "datehour" (the hour of the change, spelled as the S3 layout spells it) lets
-- Athena's partition projection list only the hours asked for, not every hour since the start.
SELECT "table", datehour, _event_name, count(DISTINCT _event_id) AS changes
FROM "ddb_lake"."orders_changes"
WHERE datehour >= 'year=2025/month=11/day=20/hour=00' AND datehour < 'year=2025/month=11/day=21/hour=00'
GROUP BY "table", datehour, _event_name
ORDER BY datehour, _event_name
