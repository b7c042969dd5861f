-- How many orders are in each status right now, and what they are worth.
-- Needs the view from sql/current_state.sql.
SELECT status,
       count(*) AS orders,
       sum(total) AS total_value
FROM "ddb_lake"."orders_changes_current"
WHERE "sk" LIKE 'ORDER#%'
GROUP BY status
ORDER BY orders DESC, status
