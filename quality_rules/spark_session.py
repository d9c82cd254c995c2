"""One local Spark session per process, configured for this project (loopback, no UI, few shuffles)."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

from quality_rules.exceptions import SparkUnavailableError


def get_spark(master: str | None = None, app_name: str = "datalake-quality", driver_memory: str | None = None) -> Any:
    """Return the live session if there is one, else start one on ``master`` (default: settings)."""
    from datalake_base.settings import get_settings

    settings = get_settings()
    master = master or settings.spark_master
    driver_memory = driver_memory or settings.spark_driver_memory
    # Workers must run this interpreter (it has pyarrow); Spark must not pick a non-loopback IP.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        raise SparkUnavailableError(
            "Spark needs Java 17 or newer and none was found on PATH or in JAVA_HOME; install it "
            "(Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or validate with --engine pandas"
        )
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    spark = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", driver_memory)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark
