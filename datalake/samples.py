"""Seeded job-postings data like the reference solution's, with realistic defects for its four rules.

Defect rates are tuned so about 44 % of rows fail at least one reference rule (the reference run:
9,840 rejected of 22,000): null organization ~14 %, job_type outside the accepted patterns ~18 %
(nulls in job_type are *not* defects: GE's regex rules ignore nulls), uniq_id with whitespace
~10 %, location shorter than 3 or longer than 60 characters ~12 %.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["country", "country_code", "date_added", "has_expired", "job_board", "job_description", "job_title",
           "job_type", "location", "organization", "page_url", "salary", "sector", "uniq_id"]
LOCATION_MIN, LOCATION_MAX = 3, 60

_GOOD_JOB_TYPES = ["Full Time", "Full Time", "Full Time", "Part Time", "Contract", "Full Time, Part Time",
                   "Contract to Hire", "Full-Time", "Part-Time Contract"]
_BAD_JOB_TYPES = ["Internship", "Temporary", "full time", "Per Diem", "Seasonal", "part time", "Freelance"]
_ORGS = ["Acme Corp", "Globex", "Initech", "Umbrella Health", "Stark Industries", "Wayne Enterprises",
         "Hooli", "Vandelay Imports", "Soylent", "Cyberdyne Systems", "Wonka Foods", "Tyrell"]
_CITIES = ["New York, NY", "San Francisco, CA", "Austin, TX", "Chicago, IL", "Boston, MA", "Seattle, WA",
           "Denver, CO", "Atlanta, GA", "Miami, FL", "Portland, OR", "Raleigh, NC", "Phoenix, AZ"]
_TITLES = ["Data Engineer", "Registered Nurse", "Sales Associate", "Software Developer", "Truck Driver",
           "Accountant", "Customer Service Rep", "Warehouse Associate", "Project Manager", "Teacher"]
_SECTORS = ["Engineering", "Healthcare", "Retail", "IT", "Logistics", "Finance", "Education", None]
_BOARDS = ["jobs.example.com", "careers.example.org", "hire.example.net"]
_WS = [" ", "\t", "  ", " \t"]


def generate_jobs_frame(rows: int = 22000, seed: int = 7) -> pd.DataFrame:
    """The rows as strings (nulls as None), vectorised so 1M rows take a few seconds."""
    rng = np.random.default_rng(seed)
    pick = lambda values, n=rows: np.asarray(values, dtype=object)[rng.integers(0, len(values), n)]  # noqa: E731

    org = pick(_ORGS)
    org[rng.random(rows) < 0.14] = None
    ws_org = rng.random(rows) < 0.01  # whitespace-only: not null, so the not-null rule accepts it
    org[ws_org] = "   "

    job_type = pick(_GOOD_JOB_TYPES)
    bad_jt = rng.random(rows) < 0.18
    job_type[bad_jt] = pick(_BAD_JOB_TYPES, int(bad_jt.sum()))
    job_type[(~bad_jt) & (rng.random(rows) < 0.03)] = None

    ids = np.char.mod("%032x", rng.integers(0, 2**62, rows, dtype=np.int64)).astype(object)
    bad_id = rng.random(rows) < 0.10
    n_bad = int(bad_id.sum())
    cut = rng.integers(1, 31, n_bad)
    ws = pick(_WS, n_bad)
    ids[bad_id] = [i[:c] + w + i[c:] for i, c, w in zip(ids[bad_id], cut, ws)]

    loc = pick(_CITIES)
    bad_loc = rng.random(rows) < 0.12
    short = bad_loc & (rng.random(rows) < 0.5)
    long_ = bad_loc & ~short
    loc[short] = pick(["NY", "LA", "TX", "-", "US"], int(short.sum()))
    loc[long_] = pick(_CITIES, int(long_.sum())) + " — Remote / Hybrid, multiple office locations across the region"
    loc[(~bad_loc) & (rng.random(rows) < 0.02)] = None

    title = pick(_TITLES)
    desc = (title + " needed at " + np.where(org == None, "a growing company", org).astype(object)  # noqa: E711
            + ". Responsibilities include \"planning\", reviews, and reporting.")
    multiline = rng.random(rows) < 0.05
    desc[multiline] = desc[multiline] + "\nBenefits: health, dental, 401(k)."
    days = rng.integers(0, 365, rows)
    date_added = (np.datetime64("2019-01-01") + days.astype("timedelta64[D]")).astype(str).astype(object)
    date_added[rng.random(rows) < 0.3] = None
    salary = np.char.mod("$%d,000/yr", rng.integers(25, 180, rows)).astype(object)
    salary[rng.random(rows) < 0.6] = None
    frame = pd.DataFrame({
        "country": "United States of America",
        "country_code": "US",
        "date_added": date_added,
        "has_expired": np.where(rng.random(rows) < 0.02, "Yes", "No").astype(object),
        "job_board": pick(_BOARDS),
        "job_description": desc,
        "job_title": title,
        "job_type": job_type,
        "location": loc,
        "organization": org,
        "page_url": "https://" + pick(_BOARDS) + "/job/" + np.char.mod("%d", np.arange(rows)).astype(object),
        "salary": salary,
        "sector": pick(_SECTORS),
        "uniq_id": ids,
    })
    return frame[COLUMNS]


def generate_jobs_csv(path: str | Path, rows: int = 22000, seed: int = 7, *, gzip: bool = False) -> Path:
    """Write the sample as CSV (header, RFC 4180 quoting; nulls as empty fields)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_jobs_frame(rows, seed).to_csv(path, index=False, compression="gzip" if gzip else None)
    return path


def reference_rules(dataset: str = "jobs") -> list[dict[str, Any]]:
    """The reference solution's four rules, in its data model."""
    return [
        {"id": f"{dataset}-organization", "dataset_name": dataset, "column_name": "organization",
         "rules": [{"name": "expect_column_values_to_not_be_null", "kwargs": {"result_format": "SUMMARY"},
                    "reject_msg": "REJECT:null_values_found_in_organization"}]},
        {"id": f"{dataset}-job_type", "dataset_name": dataset, "column_name": "job_type",
         "rules": [{"name": "expect_column_values_to_match_regex_list",
                    "kwargs": {"regex_list": [".*Full.*Time", ".*Part.*Time", ".*Contract.*"], "match_on": "any",
                               "result_format": "SUMMARY"},
                    "reject_msg": "REJECT:job_type_not_in_list"}]},
        {"id": f"{dataset}-uniq_id", "dataset_name": dataset, "column_name": "uniq_id",
         "rules": [{"name": "expect_column_values_to_not_match_regex",
                    "kwargs": {"regex": "\\s++", "result_format": "SUMMARY"},
                    "reject_msg": "REJECT:whitespace_found_in_uniq_id"}]},
        {"id": f"{dataset}-location", "dataset_name": dataset, "column_name": "location",
         "rules": [{"name": "expect_column_value_lengths_to_be_between",
                    "kwargs": {"min_value": LOCATION_MIN, "max_value": LOCATION_MAX, "result_format": "SUMMARY"},
                    "reject_msg": "REJECT:location_length_out_of_range"}]},
    ]
