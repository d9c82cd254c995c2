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
    mapping = StreamMapping(local_settings, ids["stream_arn"], indexer, threading.Event(), dlq)
    put = lambda sk: ddb.put_item(TableName=local_settings.catalog_table, Item={"pk": {"S": "p"}, "sk": {"S": sk}})  # noqa: E731
    put("a")
    mapping.poll_once()
    mapping.iterators = {sid: "arn:lost-iterator" for sid in mapping.iterators}  # the endpoint forgot it
    put("b")

    mapping.poll_once()  # fails once and re-positions after the checkpoint
    mapping.poll_once()

    assert delivered == ["a", "b"]
