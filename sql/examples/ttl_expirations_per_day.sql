-- Items deleted by DynamoDB's TTL, per day. The partition columns (year, month, day) limit the
-- data Athena reads: with partition projection only those folders are listed.
SELECT year, month, day, count(DISTINCT _event_id) AS expired_items
FROM "ddb_lake"."orders_changes"
WHERE _expired_by_ttl AND year = '2025' AND month = '11'
GROUP BY year, month, day
ORDER BY year, month, day
