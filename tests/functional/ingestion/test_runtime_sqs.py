"""The local SQS mapping against the real endpoint: Lambda's batching window."""

from __future__ import annotations

import threading
import time

from datalake.local.provision import provision
from datalake.local.runtime import SqsMapping
from datalake_base import aws


def test_messages_sent_within_the_batching_window_are_one_invocation_and_deleted(local_settings):
    provision(local_settings)
    sqs = aws.client("sqs", local_settings)
    url = sqs.get_queue_url(QueueName=local_settings.arrivals_queue)["QueueUrl"]
    sqs.purge_queue(QueueUrl=url)  # provisioning's s3:TestEvent
    invocations: list[list[str]] = []

    def handler(event, _ctx):
        invocations.append([r["body"] for r in event["Records"]])
        return {"batchItemFailures": []}

    windowed = local_settings.model_copy(update={"local_sqs_batch_window_s": 0.5, "poll_wait_s": 0})
    mapping = SqsMapping(windowed, url, handler, threading.Event(), name="sqs-test")
    sqs.send_message(QueueUrl=url, MessageBody="m0")
    sender = threading.Thread(target=lambda: [time.sleep(0.1) or sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
                                              for i in (1, 2)])
    sender.start()
    assert mapping.poll_once() == 3
    sender.join()
    assert invocations == [["m0", "m1", "m2"]]
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                  "ApproximateNumberOfMessagesNotVisible"])
    assert left["Attributes"] == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


def test_a_full_batch_does_not_wait_for_the_window(local_settings):
    provision(local_settings)
    sqs = aws.client("sqs", local_settings)
    url = sqs.get_queue_url(QueueName=local_settings.arrivals_queue)["QueueUrl"]
    sqs.purge_queue(QueueUrl=url)  # provisioning's s3:TestEvent
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)])
    sizes: list[int] = []
    windowed = local_settings.model_copy(update={"local_sqs_batch_window_s": 30, "poll_wait_s": 0})
    mapping = SqsMapping(windowed, url, lambda e, _c: sizes.append(len(e["Records"])) or {"batchItemFailures": []},
                         threading.Event(), name="sqs-test")
    t = time.monotonic()
    while sum(sizes) < 10 and time.monotonic() - t < 5:
        mapping.poll_once()
    assert sum(sizes) == 10 and time.monotonic() - t < 5
