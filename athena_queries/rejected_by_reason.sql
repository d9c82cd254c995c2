-- Rejected rows of one dataset per reject reason (a row failing two rules counts under both).
SELECT
    {dataset}                  AS dataset,
    reason,
    count(*)                   AS rejected_rows,
    count(DISTINCT source_key) AS source_objects,
    min(ingest_date)           AS first_ingest_date,
    max(ingest_date)           AS last_ingest_date
FROM {database}.{rejected_table}
CROSS JOIN UNNEST(reject_reasons) AS r (reason)
GROUP BY reason
ORDER BY rejected_rows DESC, reason
