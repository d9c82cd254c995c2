"""One factory for every AWS client, so local mode is only a different endpoint."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from datalake_base.settings import Settings, get_settings

_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32)


@lru_cache(maxsize=1)
def _loader() -> Any:
    """One botocore data loader for every session: each new loader re-lists ~400 service folders
    and re-parses the models it loads (about 75 ms per client on a busy machine)."""
    from botocore.loaders import create_loader

    return create_loader()


def _botocore_session() -> Any:
    import botocore.session

    bc = botocore.session.get_session()
    bc.register_component("data_loader", _loader())
    return bc


def session(settings: Settings | None = None) -> boto3.session.Session:
    s = settings or get_settings()
    if s.mode == "local":
        # The local endpoint accepts any credentials; never fall through to a real profile.
        return boto3.session.Session(
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
            region_name=s.region, botocore_session=_botocore_session(),
        )
    return boto3.session.Session(region_name=s.region, botocore_session=_botocore_session())


def client(service: str, settings: Settings | None = None) -> Any:
    s = settings or get_settings()
    return _cached_client(service, s.mode, s.region, s.effective_endpoint)


@lru_cache(maxsize=64)
def _cached_client(service: str, mode: str, region: str, endpoint: str | None) -> Any:
    s = get_settings()
    return session(s).client(service, endpoint_url=endpoint, region_name=region, config=_CONFIG)


def clear_clients() -> None:
    _cached_client.cache_clear()


def wrangler(settings: Settings | None = None) -> Any:
    """awswrangler pointed at the same endpoint and credentials as every other client."""
    import awswrangler as wr

    s = settings or get_settings()
    endpoint = s.effective_endpoint
    wr.config.s3_endpoint_url = endpoint
    wr.config.glue_endpoint_url = endpoint
    wr.config.dynamodb_endpoint_url = endpoint
    return wr
