-- The current state of the DynamoDB table, from its change rows: per primary key the latest row
-- by _event_time, a change delivered more than once (same _event_id) counted once, and keys whose
-- latest change is a delete (REMOVE, including TTL expiry) left out. Rows loaded by
-- `ddb-lake backfill` from a full export are INSERTs at the export time, so every later change
-- overrides them; an incremental export's rows are changes at their own times. At equal times a
-- stream row comes first, by its sequence number (the Kinesis one, or the DynamoDB stream's, whose
-- change times have whole seconds only), and a full export's row (_event_id 'export:…', the table
-- as it was) after every change: the change is never older than it.
--
-- Athena SQL over the stacks' Glue table (defaults: database ddb_lake, table orders_changes,
-- keys pk and sk); the stacks save the same query as the named query
-- "orders_changes current state". Run once; then query "ddb_lake"."orders_changes_current".
CREATE OR REPLACE VIEW "ddb_lake"."orders_changes_current" AS
WITH deduplicated AS (
  SELECT *,
         row_number() OVER (PARTITION BY _event_id ORDER BY coalesce(_kinesis_sequence_number, _stream_sequence_number)) AS copy_number
  FROM "ddb_lake"."orders_changes"
),
ranked AS (
  SELECT *,
         row_number() OVER (
           PARTITION BY "pk", "sk"
           ORDER BY _event_time DESC,
                    length(coalesce(_kinesis_sequence_number, _stream_sequence_number)) DESC,
                    coalesce(_kinesis_sequence_number, _stream_sequence_number) DESC,
                    _event_id LIKE 'export:%'
         ) AS recency
  FROM deduplicated
  WHERE copy_number = 1
)
SELECT "pk", "sk", status, customer_id, total, currency, created_at,
       address_city, address_postcode, tags, "expires_at", _event_time AS last_changed
FROM ranked
WHERE recency = 1 AND NOT _is_deleted
