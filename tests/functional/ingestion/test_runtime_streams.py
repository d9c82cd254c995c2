"""The local stream mapping against the real endpoint: Lambda's delivery contract."""

from __future__ import annotations


def test_stream_mapping_resumes_after_its_checkpoint_when_an_iterator_is_lost(local_settings):
    """A lost iterator must neither skip records nor deliver them twice."""
    import threading

    from datalake_base import aws
    from datalake.local.provision import provision
    from datalake.local.runtime import StreamMapping

    ids = provision(local_settings)
    ddb = aws.client("dynamodb", local_settings)
    delivered: list[str] = []

    def indexer(event, _ctx):
        delivered.extend(r["dynamodb"]["Keys"]["sk"]["S"] for r in event["Records"])
        return {"batchItemFailures": []}

    dlq = aws.client("sqs", local_settings).get_queue_url(QueueName=local_settings.indexer_dlq)["QueueUrl"]
    no_window = local_settings.model_copy(update={"local_stream_batch_window_s": 0})
    mapping = StreamMapping(no_window, ids["stream_arn"], indexer, threading.Event(), dlq)
    put = lambda sk: ddb.put_item(TableName=local_settings.catalog_table, Item={"pk": {"S": "p"}, "sk": {"S": sk}})  # noqa: E731
    put("a")
    mapping.poll_once()
    mapping.iterators = {sid: "arn:lost-iterator" for sid in mapping.iterators}  # the endpoint forgot it
    put("b")

    mapping.poll_once()  # fails once and re-positions after the checkpoint
    mapping.poll_once()

    assert delivered == ["a", "b"]


def test_records_written_within_the_batching_window_reach_the_handler_in_one_invocation(local_settings):
    """Lambda's MaximumBatchingWindowInSeconds: reads inside the window are gathered, then delivered
    together, in order, once the window has passed (or the mapping stops)."""
    import threading
    import time

    from datalake_base import aws
    from datalake.local.provision import provision
    from datalake.local.runtime import StreamMapping

    ids = provision(local_settings)
    ddb = aws.client("dynamodb", local_settings)
    invocations: list[list[str]] = []

    def indexer(event, _ctx):
        invocations.append([r["dynamodb"]["Keys"]["sk"]["S"] for r in event["Records"]])
        return {"batchItemFailures": []}

    dlq = aws.client("sqs", local_settings).get_queue_url(QueueName=local_settings.indexer_dlq)["QueueUrl"]
    windowed = local_settings.model_copy(update={"local_stream_batch_window_s": 0.6})
    stop = threading.Event()
    mapping = StreamMapping(windowed, ids["stream_arn"], indexer, stop, dlq)
    put = lambda sk: ddb.put_item(TableName=local_settings.catalog_table, Item={"pk": {"S": "p"}, "sk": {"S": sk}})  # noqa: E731
    put("a")
    mapping.poll_once()
    put("b")
    mapping.poll_once()
    assert invocations == []  # still inside the window
    time.sleep(0.7)
    mapping.poll_once()
    assert invocations == [["a", "b"]]

    put("c")
    mapping.start()
    time.sleep(0.2)
    stop.set()  # stopping delivers what the window holds
    mapping.join(5)
    assert invocations == [["a", "b"], ["c"]]
