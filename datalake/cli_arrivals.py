"""CLI commands of the arrival path: `datalake dlq list|redrive` and `datalake reconcile`."""

from __future__ import annotations

import json

import click


def _ctx():  # helpers of datalake.cli, imported late: that module imports this one at its end
    from datalake import cli

    s = cli._settings()
    cli._require_lake(s)
    return cli, s


@click.group("dlq")
def dlq() -> None:
    """Inspect and redrive the arrivals dead-letter queue (messages that failed every retry)."""


@dlq.command("list")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the messages (bodies included) as JSON.")
def dlq_list(limit: int, as_json: bool) -> None:
    """Show the dead-lettered arrival messages, the objects they name and why they fail to parse."""
    from rich.table import Table

    from datalake_base import aws
    from ingestion.dlq import list_dead_letters, queue_url

    cli, s = _ctx()
    with cli._errors():
        sqs = aws.client("sqs", s)
        letters = list_dead_letters(sqs, queue_url(sqs, s.arrivals_dlq), limit=limit)
    if as_json:
        click.echo(json.dumps([d.to_dict() for d in letters], indent=2))
        return
    if not letters:
        cli.console.print(f"dead-letter queue {s.arrivals_dlq} is empty")
        return
    t = Table("message id", "receives", "sent", "objects / error")
    for d in letters:
        t.add_row(d.message_id, str(d.receive_count), d.sent_at, ", ".join(d.objects) or (d.error or "")[:120])
    cli.console.print(t)
    cli.console.print(f"{len(letters)} message(s); after fixing the cause: datalake dlq redrive")


@dlq.command("redrive")
@click.option("--limit", type=int, default=None, help="Move at most this many messages (default: all).")
def dlq_redrive(limit: int | None) -> None:
    """Move dead-lettered messages back to the arrivals queue to be processed again."""
    from datalake_base import aws
    from ingestion.dlq import queue_url, redrive

    cli, s = _ctx()
    with cli._errors():
        sqs = aws.client("sqs", s)
        moved = redrive(sqs, queue_url(sqs, s.arrivals_dlq), queue_url(sqs, s.arrivals_queue), limit=limit)
    cli.console.print(f"moved {moved} message(s) from {s.arrivals_dlq} back to {s.arrivals_queue}")


@click.command("reconcile")
@click.argument("dataset", required=False)
@click.option("--json", "as_json", is_flag=True)
def reconcile_cmd(dataset: str | None, as_json: bool) -> None:
    """Compare the catalog with the landing bucket (one DATASET or all), repair drift, report the fixes."""
    from rich.table import Table

    from ingestion import components
    from ingestion.reconcile import reconcile

    cli, s = _ctx()
    with cli._errors():
        arr = components.arrivals(s)
        report = reconcile(arr, arr.store, s.landing_bucket, dataset)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    cli.console.print(f"checked {report.objects_checked} object(s) in {len(report.datasets)} dataset(s) "
                      f"of s3://{report.bucket}: {len(report.fixes)} fix(es)")
    if report.fixes:
        t = Table("dataset", "key", "now", "drift found")
        for f in report.fixes:
            t.add_row(f.dataset, f.key, f.action, f.detail)
        cli.console.print(t)


def register(main: click.Group) -> None:
    main.add_command(dlq)
    main.add_command(reconcile_cmd)
