"""Creates the lake's resources through the AWS APIs, idempotently (safe to run on every `up`)."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from datalake_base import aws
from datalake_base.settings import Settings

SSE = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]}


def _bucket(s3: Any, name: str, region: str) -> None:
    try:
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=SSE)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
        },
    )


def _queue(sqs: Any, name: str, attributes: dict[str, str]) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _table(ddb: Any, name: str, keys: list[tuple[str, str]], stream: bool) -> None:
    schema = [{"AttributeName": k, "KeyType": t} for k, t in keys]
    attrs = [{"AttributeName": k, "AttributeType": "S"} for k, _ in keys]
    kwargs: dict[str, Any] = {
        "TableName": name, "KeySchema": schema, "AttributeDefinitions": attrs, "BillingMode": "PAY_PER_REQUEST",
        "SSESpecification": {"Enabled": True},
    }
    if stream:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    try:
        ddb.create_table(**kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def provision(settings: Settings) -> dict[str, str]:
    """Create buckets, queues, tables, notifications and the Glue database; returns their ids."""
    s3, sqs, ddb, glue = (aws.client(n, settings) for n in ("s3", "sqs", "dynamodb", "glue"))
    for bucket in (settings.landing_bucket, settings.lake_bucket):
        _bucket(s3, bucket, settings.region)

    _, dlq_arn = _queue(sqs, settings.arrivals_dlq, {"MessageRetentionPeriod": "1209600", "SqsManagedSseEnabled": "true"})
    queue_url, queue_arn = _queue(
        sqs,
        settings.arrivals_queue,
        {
            "VisibilityTimeout": str(settings.visibility_timeout_s),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings.max_receive_count}),
            "SqsManagedSseEnabled": "true",
        },
    )
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": queue_arn, "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{settings.landing_bucket}"}},
        }],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    _queue(sqs, settings.indexer_dlq, {"MessageRetentionPeriod": "1209600", "SqsManagedSseEnabled": "true"})
    s3.put_bucket_notification_configuration(
        Bucket=settings.landing_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
            ]
        },
    )

    _table(ddb, settings.catalog_table, [("pk", "HASH"), ("sk", "RANGE")], stream=True)
    _table(ddb, settings.rules_table, [("id", "HASH")], stream=False)
    try:
        glue.create_database(DatabaseInput={"Name": settings.glue_database, "Description": "data lake catalog"})
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "AlreadyExistsException":
            raise
    stream_arn = ddb.describe_table(TableName=settings.catalog_table)["Table"]["LatestStreamArn"]
    return {"queue_url": queue_url, "stream_arn": stream_arn}
