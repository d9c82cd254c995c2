-- Rejected rows of one dataset per source object, with the first rejected row positions.
SELECT
    source_key,
    count(*)                                    AS rejected_rows,
    min(source_row)                             AS first_rejected_row,
    array_join(array_agg(DISTINCT comments), ' || ') AS distinct_comments
FROM {database}.{rejected_table}
GROUP BY source_key
ORDER BY rejected_rows DESC, source_key
