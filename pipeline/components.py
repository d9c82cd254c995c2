"""Builds the pipeline's adapters from settings (the composition root of this stage)."""

from __future__ import annotations

from datalake_base import aws
from datalake_base.settings import Settings
from pipeline.lease import LeaseStore
from pipeline.runs import RunStore


def lease_store(settings: Settings) -> LeaseStore:
    return LeaseStore(settings.catalog_table, aws.client("dynamodb", settings), settings.pipeline_lease_s)


def run_store(settings: Settings) -> RunStore:
    return RunStore(settings.catalog_table, aws.client("dynamodb", settings))
