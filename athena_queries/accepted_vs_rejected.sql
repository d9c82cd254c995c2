-- Accepted and rejected row counts of one dataset per ingest date.
WITH accepted AS (
    SELECT CAST(ingest_date AS varchar) AS ingest_date, count(*) AS row_count
    FROM {database}.{accepted_table}
    GROUP BY 1
),
rejected AS (
    SELECT CAST(ingest_date AS varchar) AS ingest_date, count(*) AS row_count
    FROM {database}.{rejected_table}
    GROUP BY 1
)
SELECT
    coalesce(a.ingest_date, r.ingest_date)                  AS ingest_date,
    coalesce(a.row_count, 0)                                AS accepted_rows,
    coalesce(r.row_count, 0)                                AS rejected_rows,
    coalesce(a.row_count, 0) + coalesce(r.row_count, 0)     AS total_rows,
    round(100.0 * coalesce(r.row_count, 0)
          / (coalesce(a.row_count, 0) + coalesce(r.row_count, 0)), 2) AS rejected_pct
FROM accepted a
FULL OUTER JOIN rejected r ON a.ingest_date = r.ingest_date
ORDER BY 1
