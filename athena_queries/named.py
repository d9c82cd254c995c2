"""Named Athena queries shipped as ``athena_queries/*.sql`` with ``{placeholder}`` parameters.

Parameters are substituted safely: ``database``/``*_table`` must be plain identifiers and are
emitted double-quoted; every other parameter is a value, validated and emitted as a quoted SQL
string literal. Given ``dataset``, ``accepted_table``/``rejected_table`` default to the Glue tables
the validate step registers: ``accepted_<glue_identifier(dataset)>`` / ``rejected_<...>``
(partitioned by ``ingest_date``, located at ``s3://<lake>/<side>/dataset=<dataset>/``).
"""

from __future__ import annotations

import re
from importlib import resources

from athena_queries.exceptions import NamedQueryError

DEFAULTS: dict[str, str] = {}

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_VALUE = re.compile(r"^[A-Za-z0-9_.:/=+\- ]{1,256}$")


def _is_identifier_param(name: str) -> bool:
    return name == "database" or name.endswith("_table")


def _table_defaults(params: dict[str, str]) -> dict[str, str]:
    if "dataset" not in params:
        return {}
    from catalog.naming import glue_identifier

    try:
        ident = glue_identifier(str(params["dataset"]))
    except ValueError as err:
        raise NamedQueryError(str(err)) from err
    return {"accepted_table": f"accepted_{ident}", "rejected_table": f"rejected_{ident}"}


def list_named_queries() -> list[str]:
    return sorted(p.name[:-4] for p in resources.files(__package__).iterdir() if p.name.endswith(".sql"))


def load_named_query(name: str, **params: str) -> str:
    """The SQL of ``athena_queries/<name>.sql`` with its placeholders filled in."""
    if not re.fullmatch(r"[a-z0-9_]+", name) or name not in list_named_queries():
        raise NamedQueryError(f"no named query {name!r}; choose one of {', '.join(list_named_queries())}")
    text = resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
    values = {**DEFAULTS, **_table_defaults(params), **params}
    needed = set(_PLACEHOLDER.findall(text))
    missing = sorted(needed - values.keys())
    if missing:
        raise NamedQueryError(f"named query {name!r} needs parameter(s) {', '.join(missing)}: pass them as keywords")

    def render(m: re.Match[str]) -> str:
        key = m.group(1)
        raw = str(values[key])
        if _is_identifier_param(key):
            if not _IDENTIFIER.match(raw):
                raise NamedQueryError(
                    f"{key}={raw!r} is not a valid identifier: use letters, digits and underscores, "
                    "starting with a letter or underscore"
                )
            return f'"{raw.lower()}"'
        if not _VALUE.match(raw):
            raise NamedQueryError(
                f"{key}={raw!r} contains characters not allowed in a named-query value: use letters, "
                "digits, spaces and _ . : / = + -"
            )
        return "'" + raw.replace("'", "''") + "'"

    return _PLACEHOLDER.sub(render, text)
