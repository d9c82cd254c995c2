"""The base of the house: settings, the AWS client factory, observability and shared errors.

Every stage package (ingestion, catalog, quality_rules, glue_jobs, athena_queries, warehouse,
pipeline) imports from here; this package imports none of them, nor the app (``datalake``).
"""
