-- How many orders are in each status right now, and what they are worth.
-- Needs the orders table's current-state view: the schema keeper makes it on AWS;
-- `ddb-lake schema --lake DIR --views` prints it for a local lake.
SELECT status,
       count(*) AS orders,
       sum(total) AS total_value
FROM "ddb_lake"."orders_changes_current"
WHERE "sk" LIKE 'ORDER#%'
GROUP BY status
ORDER BY orders DESC, status
