"""Structured JSON logs, EMF metrics and tracing hooks, shared by every handler and job.

Powertools does the work: ``Logger`` emits JSON with the correlation id and Lambda context,
``Metrics`` flushes CloudWatch Embedded Metric Format, ``Tracer`` is X-Ray in AWS and a no-op
locally (``POWERTOOLS_TRACE_DISABLED``).
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache

from aws_lambda_powertools import Logger, Metrics, Tracer

NAMESPACE = "DataLake"


def _local() -> bool:
    return os.environ.get("DATALAKE_MODE", "local") == "local"


@lru_cache(maxsize=1)
def logger() -> Logger:
    service = os.environ.get("POWERTOOLS_SERVICE_NAME", "datalake")
    level = os.environ.get("DATALAKE_LOG_LEVEL", os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"))
    # moto's request log is noise, and would carry presigned query strings.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return Logger(service=service, level=level)


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    return Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE))


@lru_cache(maxsize=1)
def tracer() -> Tracer:
    if _local():
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    return Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "datalake"))
