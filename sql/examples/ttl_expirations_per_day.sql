-- Items deleted by DynamoDB's TTL, per day. The filter on the partition column "datehour"
-- limits the data Athena reads: with partition projection only those hours' folders are listed.
SELECT substr(_event_time, 1, 10) AS day, count(DISTINCT _event_id) AS expired_items
FROM "ddb_lake"."orders_changes"
WHERE _expired_by_ttl AND datehour >= 'year=2025/month=11/day=01/hour=00'
GROUP BY substr(_event_time, 1, 10)
ORDER BY day
