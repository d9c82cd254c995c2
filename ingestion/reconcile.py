"""Compare the catalog with a bucket listing and repair the drift; safe to run at any time.

Drift is found by listing (cheap), and every repair goes through ``Arrivals.sync`` (the same
idempotent, conditional path events take), so running it while arrivals flow, twice, or on a
healthy catalog changes nothing that is right. Finally the dataset counters are checked against
the object items (``CatalogStore.correct_aggregate``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from catalog.naming import DEFAULT_DATASET, dataset_for_key
from catalog.store import PRESENT, CatalogStore, WriteConflict
from ingestion.service import Arrivals


@dataclass(frozen=True)
class Fix:
    dataset: str
    key: str
    action: str  # the outcome of the repair: ingested, quarantined, ignored, deleted, aggregate, failed
    detail: str = ""


@dataclass
class ReconcileReport:
    bucket: str
    datasets: list[str] = field(default_factory=list)
    objects_checked: int = 0
    fixes: list[Fix] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "datasets": self.datasets, "objects_checked": self.objects_checked,
                "fixes": [f.__dict__ for f in self.fixes]}


def _bucket_state(arrivals: Arrivals, bucket: str, dataset: str | None, versioned: bool) -> dict[str, dict[str, Any]]:
    """key -> comparable state of the bucket, for one dataset or all."""
    prefixes = [""] if dataset is None else ([f"{dataset}/"] + ([""] if dataset == DEFAULT_DATASET else []))
    state: dict[str, dict[str, Any]] = {}
    for prefix in prefixes:
        if versioned:
            for v in arrivals.objects.list_versions(bucket, prefix):
                state.setdefault(v.key, {"versions": set()})["versions"].add((v.version_id, v.is_latest, v.delete_marker))
        else:
            for o in arrivals.objects.list_objects(bucket, prefix):
                state[o["key"]] = o
    return {k: v for k, v in state.items() if dataset is None or dataset_for_key(k) == dataset}


def _catalog_state(records: list[dict[str, Any]], versioned: bool) -> dict[str, dict[str, Any]]:
    state: dict[str, dict[str, Any]] = defaultdict(lambda: {"versions": set()})
    for r in records:
        if versioned:
            dm = bool(r.get("delete_marker"))
            if (r.get("status") in PRESENT and not r.get("handler_failed")) or dm:
                state[r["key"]]["versions"].add((r.get("version_id") or "null", bool(r.get("is_latest")), dm))
            else:
                state[r["key"]]  # noqa: B018 - a tombstone: the key is known, with no versions
        else:
            state[r["key"]] = r
    return dict(state)


def _size(rec: dict[str, Any]) -> int:
    size = rec.get("size")
    return -1 if size is None else int(size)  # 0 is a size (an empty object), not a missing one


def _drifted(key: str, in_bucket: dict[str, Any] | None, in_catalog: dict[str, Any] | None, versioned: bool) -> str | None:
    if versioned:
        have = (in_bucket or {}).get("versions", set())
        want = (in_catalog or {}).get("versions", set())
        return None if have == want else "versions differ from the bucket"
    live = in_catalog is not None and in_catalog.get("status") in PRESENT
    if in_bucket is None:
        return "catalogued as present but gone from the bucket" if live else None
    if in_catalog is None:
        return "in the bucket but not catalogued"
    if not live:
        return f"in the bucket but catalogued as {in_catalog.get('status')}"
    if in_catalog.get("handler_failed"):
        return "its processing failed before; trying again"
    if in_catalog.get("etag") != in_bucket["etag"] or _size(in_catalog) != in_bucket["size"]:
        return "catalogued content differs from the bucket (etag/size)"
    return None


def reconcile(arrivals: Arrivals, store: CatalogStore, bucket: str, dataset: str | None = None) -> ReconcileReport:
    report = ReconcileReport(bucket=bucket)
    versioned = arrivals.objects.is_versioned(bucket)
    in_bucket = _bucket_state(arrivals, bucket, dataset, versioned)
    names = {dataset} if dataset else {dataset_for_key(k) for k in in_bucket} | {d["dataset"] for d in store.list_datasets()}
    report.datasets = sorted(names)
    by_ds: dict[str, list[str]] = defaultdict(list)
    for k in in_bucket:
        by_ds[dataset_for_key(k)].append(k)
    for ds in report.datasets:
        records = [r for r in store.list_objects(ds) if r.get("bucket") == bucket]
        in_catalog = _catalog_state(records, versioned)
        keys = sorted(set(by_ds.get(ds, [])) | set(in_catalog))
        report.objects_checked += len(keys)
        for key in keys:
            why = _drifted(key, in_bucket.get(key), in_catalog.get(key), versioned)
            if why is None:
                continue
            try:
                outcome = arrivals.sync(bucket, key)
            except Exception as exc:  # one object that cannot be repaired must not stop the rest
                report.fixes.append(Fix(ds, key, "failed", f"{why}; repair failed: {_describe(exc)}"))
                _record_failure(arrivals, bucket, key, f"reconcile could not catalogue it: {_describe(exc)}")
                continue
            if outcome.status not in ("duplicate", "stale"):
                report.fixes.append(Fix(ds, key, outcome.status, why))
        try:
            correction = store.correct_aggregate(ds)
        except WriteConflict as exc:  # arrivals kept moving the counters: say so, go on with the next dataset
            report.fixes.append(Fix(ds, "", "failed", f"dataset counters not checked: {exc}"))
            continue
        if correction:
            detail = ", ".join(f"{k} {v:+d}" if isinstance(v, int) else f"{k}={v}" for k, v in correction.items())
            report.fixes.append(Fix(ds, "", "aggregate", detail))
    return report


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _record_failure(arrivals: Arrivals, bucket: str, key: str, reason: str) -> None:
    try:
        arrivals.record_failure(bucket, key, None, reason)
    except Exception:  # noqa: BLE001 - the report already names the object; the next run tries again
        pass


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for the scheduled reconcile (EventBridge "Scheduled Event")."""
    from aws_lambda_powertools.metrics import MetricUnit

    from ingestion import components
    from datalake_base.observability import logger, metrics
    from datalake_base.settings import get_settings

    log, m = logger(), metrics()
    arrivals = components.cached_arrivals()
    report = reconcile(arrivals, arrivals.store, get_settings().landing_bucket)
    m.add_metric(name="ReconcileFixes", unit=MetricUnit.Count, value=len(report.fixes))
    m.flush_metrics()
    if report.fixes:
        log.warning("reconcile repaired drift", extra={"fixes": [f.__dict__ for f in report.fixes[:50]],
                                                      "fix_count": len(report.fixes)})
    return {"objects_checked": report.objects_checked, "fixes": len(report.fixes)}
