"""Every setting and environment variable of the service, in one place.

Local mode and AWS mode differ only in these values (endpoints, names, backends); the code
path is the same. Each field reads the environment variable named in its ``alias``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["local", "aws"]
SearchBackend = Literal["embedded", "opensearch"]
QueryEngine = Literal["local", "athena"]
WarehouseBackend = Literal["local", "redshift"]
ValidationEngine = Literal["auto", "spark", "arrow", "pandas"]  # "pandas": old name of "arrow"


def _env(name: str, *fallbacks: str) -> AliasChoices:
    return AliasChoices(name, *fallbacks)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # --- mode and endpoints -------------------------------------------------------------
    mode: Mode = Field("local", validation_alias=_env("DATALAKE_MODE"))
    region: str = Field("us-east-1", validation_alias=_env("DATALAKE_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"))
    # One endpoint for every AWS API in local mode (the moto server). Empty in AWS mode.
    endpoint_url: str | None = Field(None, validation_alias=_env("DATALAKE_ENDPOINT_URL", "AWS_ENDPOINT_URL"))
    local_host: str = Field("127.0.0.1", validation_alias=_env("DATALAKE_LOCAL_HOST"))
    local_port: int = Field(4599, validation_alias=_env("DATALAKE_LOCAL_PORT"))
    state_dir: Path = Field(Path(".state"), validation_alias=_env("DATALAKE_STATE_DIR"))

    # --- names -----------------------------------------------------------------------------
    landing_bucket: str = Field("datalake-landing", validation_alias=_env("DATALAKE_LANDING_BUCKET"))
    lake_bucket: str = Field("datalake-lake", validation_alias=_env("DATALAKE_LAKE_BUCKET"))
    arrivals_queue: str = Field("datalake-arrivals", validation_alias=_env("DATALAKE_ARRIVALS_QUEUE"))
    arrivals_dlq: str = Field("datalake-arrivals-dlq", validation_alias=_env("DATALAKE_ARRIVALS_DLQ"))
    # On-failure destination for stream records the indexer gave up on.
    indexer_dlq: str = Field("datalake-indexer-dlq", validation_alias=_env("DATALAKE_INDEXER_DLQ"))
    catalog_table: str = Field("datalake-catalog", validation_alias=_env("DATALAKE_CATALOG_TABLE"))
    rules_table: str = Field("datalake-rules", validation_alias=_env("DATALAKE_RULES_TABLE"))
    glue_database: str = Field("datalake", validation_alias=_env("DATALAKE_GLUE_DATABASE"))

    # --- arrivals ----------------------------------------------------------------------------
    max_receive_count: int = Field(3, ge=1, validation_alias=_env("DATALAKE_MAX_RECEIVE_COUNT"))
    visibility_timeout_s: int = Field(30, ge=1, validation_alias=_env("DATALAKE_VISIBILITY_TIMEOUT"))
    max_object_bytes: int = Field(5 * 1024**3, ge=1, validation_alias=_env("DATALAKE_MAX_OBJECT_BYTES"))
    # Text files are read up to this many bytes at arrival to count rows; beyond it the count is unknown.
    profile_byte_budget: int = Field(64 * 1024**2, ge=1024, validation_alias=_env("DATALAKE_PROFILE_BYTE_BUDGET"))
    # Local runtime: concurrent SQS pollers (Lambda's concurrency) and stream retry bound.
    # Three: the endpoint is one Python process; on a 2-core machine more pollers only make each request
    # wait longer for it (bench/ingest, docs/arrivals.md: 2 pollers 139 files/s, 3 145/s, 4 141/s).
    local_concurrency: int = Field(3, ge=1, le=32, validation_alias=_env("DATALAKE_LOCAL_CONCURRENCY"))
    stream_max_retries: int = Field(3, ge=0, validation_alias=_env("DATALAKE_STREAM_MAX_RETRIES"))
    # The local SQS mapping waits this long for a batch to fill (the template's ingest mapping waits 1 s,
    # MaximumBatchingWindowInSeconds); kept short here, where a person watches files arrive.
    local_sqs_batch_window_s: float = Field(0.1, ge=0, le=300, validation_alias=_env("DATALAKE_LOCAL_SQS_BATCH_WINDOW"))
    # Local stream mappings gather records this long before invoking (Lambda's
    # MaximumBatchingWindowInSeconds): one search-index commit per window instead of one per read.
    local_stream_batch_window_s: float = Field(0.5, ge=0, le=300,
                                               validation_alias=_env("DATALAKE_LOCAL_STREAM_BATCH_WINDOW"))
    # Scheduled reconcile (an EventBridge schedule in AWS): repairs objects whose events were lost
    # or dead-lettered, so every object ends with a record. 0 turns it off locally.
    reconcile_interval_s: int = Field(300, ge=0, validation_alias=_env("DATALAKE_RECONCILE_INTERVAL"))
    poll_wait_s: int = Field(1, ge=0, le=20, validation_alias=_env("DATALAKE_POLL_WAIT"))
    # First bytes of each object read at arrival for format and schema (one ranged GET).
    profile_head_bytes: int = Field(1024**2, ge=1024, validation_alias=_env("DATALAKE_PROFILE_HEAD_BYTES"))
    # Local runtime: a failed message is retried after min(visibility timeout, base * 2^(receives-1)) seconds;
    # 0 leaves it invisible for the queue's whole visibility timeout, as Lambda's SQS mapping does.
    local_retry_backoff_s: float = Field(1.0, ge=0, validation_alias=_env("DATALAKE_LOCAL_RETRY_BACKOFF"))
    # Parsing an arriving file runs in a worker process ("process") with a memory limit and a
    # timeout, so no file can crash or hang the handler; "inline" parses in the handler's process.
    profile_isolation: Literal["process", "inline"] = Field("process", validation_alias=_env("DATALAKE_PROFILE_ISOLATION"))
    # Kept under the queue's visibility timeout, so a hung parse is quarantined before the message reappears.
    profile_timeout_s: float = Field(25.0, gt=0, validation_alias=_env("DATALAKE_PROFILE_TIMEOUT"))
    profile_memory_mb: int = Field(1024, ge=256, validation_alias=_env("DATALAKE_PROFILE_MEMORY_MB"))
    # Local endpoint journal: "always" fsyncs each acknowledged write (survives a machine crash); "os"
    # hands it to the kernel only (survives kill -9 of any process, not a power loss; much cheaper).
    local_journal_fsync: Literal["always", "os"] = Field("always", validation_alias=_env("DATALAKE_LOCAL_JOURNAL_FSYNC"))
    # The running lake is saved to a snapshot (runtime paused meanwhile) once its journal grows past this.
    local_journal_compact_bytes: int = Field(256 * 1024**2, ge=1024**2,
                                             validation_alias=_env("DATALAKE_LOCAL_JOURNAL_COMPACT_BYTES"))
    # Deepest JSON / nested-type nesting accepted; deeper files are quarantined before a parser sees them.
    profile_max_nesting: int = Field(64, ge=1, validation_alias=_env("DATALAKE_PROFILE_MAX_NESTING"))

    # --- search ------------------------------------------------------------------------------
    search_backend: SearchBackend = Field("embedded", validation_alias=_env("DATALAKE_SEARCH_BACKEND"))
    opensearch_url: str | None = Field(None, validation_alias=_env("DATALAKE_OPENSEARCH_URL"))
    search_index: str = Field("datalake-catalog", validation_alias=_env("DATALAKE_SEARCH_INDEX"))

    # --- validation -----------------------------------------------------------------------------
    validation_engine: ValidationEngine = Field("auto", validation_alias=_env("DATALAKE_VALIDATION_ENGINE"))
    # Under this many input bytes, "auto" validates in-process (the Arrow engine) instead of Spark.
    pandas_max_bytes: int = Field(50 * 1024**2, ge=0, validation_alias=_env("DATALAKE_PANDAS_MAX_BYTES"))
    spark_master: str = Field("local[2]", validation_alias=_env("DATALAKE_SPARK_MASTER"))
    spark_driver_memory: str = Field("2g", validation_alias=_env("DATALAKE_SPARK_DRIVER_MEMORY"))

    # --- pipeline (crawl -> validate -> load, run by Step Functions in AWS, by the local runtime locally) ----
    # Automatic runs: once a dataset's arrivals and deletes have been quiet this long, a run starts.
    pipeline_auto: bool = Field(True, validation_alias=_env("DATALAKE_PIPELINE_AUTO"))
    pipeline_debounce_s: float = Field(5.0, ge=0, validation_alias=_env("DATALAKE_PIPELINE_DEBOUNCE"))
    # A run holds its dataset's lease this long past its last heartbeat; a crashed run's lease expires.
    pipeline_lease_s: int = Field(900, ge=10, validation_alias=_env("DATALAKE_PIPELINE_LEASE"))
    # Attempts of a failing step (bounded exponential backoff) before the run ends `failed`.
    pipeline_max_attempts: int = Field(3, ge=1, validation_alias=_env("DATALAKE_PIPELINE_MAX_ATTEMPTS"))
    # AWS mode: the deployed state machine, Glue job and the one-shot schedules that start runs.
    state_machine_arn: str | None = Field(None, validation_alias=_env("DATALAKE_STATE_MACHINE_ARN"))
    validate_job_name: str = Field("datalake-validate", validation_alias=_env("DATALAKE_VALIDATE_JOB_NAME"))
    scheduler_group: str = Field("datalake-pipeline", validation_alias=_env("DATALAKE_SCHEDULER_GROUP"))
    scheduler_role_arn: str | None = Field(None, validation_alias=_env("DATALAKE_SCHEDULER_ROLE_ARN"))
    pipeline_start_function_arn: str | None = Field(None, validation_alias=_env("DATALAKE_PIPELINE_START_FUNCTION_ARN"))

    # --- query and warehouse ---------------------------------------------------------------------
    query_engine: QueryEngine = Field("local", validation_alias=_env("DATALAKE_QUERY_ENGINE"))
    athena_workgroup: str = Field("primary", validation_alias=_env("DATALAKE_ATHENA_WORKGROUP"))
    warehouse: WarehouseBackend = Field("local", validation_alias=_env("DATALAKE_WAREHOUSE"))
    redshift_workgroup: str | None = Field(None, validation_alias=_env("DATALAKE_REDSHIFT_WORKGROUP"))
    redshift_database: str = Field("dev", validation_alias=_env("DATALAKE_REDSHIFT_DATABASE"))
    redshift_copy_role_arn: str | None = Field(None, validation_alias=_env("DATALAKE_REDSHIFT_COPY_ROLE_ARN"))

    # --- observability and API ---------------------------------------------------------------------
    log_level: str = Field("INFO", validation_alias=_env("DATALAKE_LOG_LEVEL", "POWERTOOLS_LOG_LEVEL"))
    service_name: str = Field("datalake", validation_alias=_env("POWERTOOLS_SERVICE_NAME"))
    api_token: str | None = Field(None, validation_alias=_env("DATALAKE_API_TOKEN"))
    # schema drift events found by the crawler are published here too (locally: log + dataset record)
    schema_events_topic_arn: str | None = Field(None, validation_alias=_env("DATALAKE_SCHEMA_EVENTS_TOPIC_ARN"))
    # AWS mode: the catalog app also accepts Cognito user-pool JWTs (ID or access tokens) from this
    # issuer (https://cognito-idp.<region>.amazonaws.com/<pool id>) for this app client id.
    cognito_issuer: str | None = Field(None, validation_alias=_env("DATALAKE_COGNITO_ISSUER"))
    cognito_audience: str | None = Field(None, validation_alias=_env("DATALAKE_COGNITO_AUDIENCE"))

    # --- local persistence ---------------------------------------------------------------------------
    # `datalake down` saves the local lake to <state dir>/snapshot; messages still in flight (invisible
    # after a failed attempt) are waited for this long before the snapshot is written without them.
    snapshot_drain_wait_s: float = Field(10.0, ge=0, validation_alias=_env("DATALAKE_SNAPSHOT_DRAIN_WAIT"))
    # `datalake up`/`down` give up when the lake reports no progress for this long.
    local_stall_timeout_s: float = Field(90.0, ge=5, validation_alias=_env("DATALAKE_LOCAL_STALL_TIMEOUT"))

    @model_validator(mode="after")
    def _check_mode(self) -> "Settings":
        if self.mode == "aws" and self.endpoint_url and "127.0.0.1" in self.endpoint_url:
            raise ValueError(
                f"DATALAKE_MODE=aws but the endpoint is local ({self.endpoint_url}); "
                "unset DATALAKE_ENDPOINT_URL/AWS_ENDPOINT_URL or use DATALAKE_MODE=local"
            )
        if self.search_backend == "opensearch" and not self.opensearch_url:
            raise ValueError("DATALAKE_SEARCH_BACKEND=opensearch needs DATALAKE_OPENSEARCH_URL (https://host:443)")
        return self

    @property
    def local_endpoint(self) -> str:
        return f"http://{self.local_host}:{self.local_port}"

    @property
    def effective_endpoint(self) -> str | None:
        """Endpoint every client uses: the explicit one, else the local server in local mode."""
        if self.endpoint_url:
            return self.endpoint_url
        return self.local_endpoint if self.mode == "local" else None

    @property
    def state_path(self) -> Path:
        return self.state_dir.expanduser().resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    """For tests and the local runtime, which change the environment after import."""
    get_settings.cache_clear()
