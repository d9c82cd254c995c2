"""What each supported expectation means for a row, shared by both engines.

The canonical semantics are Great Expectations' pandas metrics (Python ``re``, ``str.len()``...):
a row *fails* a rule when GE would list it among the unexpected values. Column-map expectations
exclude nulls from their domain, so a null never fails anything except the null checks.
``mostly`` only decides whether the expectation as a whole succeeds; it never changes row flags.
"""

from __future__ import annotations

NATIVE = frozenset({
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_values_to_match_regex_list",
    "expect_column_values_to_not_match_regex_list",
    "expect_column_value_lengths_to_be_between",
    "expect_column_value_lengths_to_equal",
    "expect_column_values_to_be_between",  # numeric columns; other types fall back to GE
    "expect_column_values_to_be_unique",
    "expect_column_values_to_match_strftime_format",  # evaluated once per distinct value
})


def java_regex(pattern: str) -> str:
    """Translate a Python ``re`` pattern into a java.util.regex pattern with the same matches.

    Spark's ``rlike`` is Java ``Matcher.find()`` (search, like ``str.contains``). Differences fixed:
    ``(?U)`` makes ``\\d \\w \\s \\b`` and case folding Unicode-aware as in Python str patterns;
    ``(?d)`` makes ``\\n`` the only line terminator for ``. ^ $`` as in Python; ``\\s`` also matches
    U+001C..U+001F (Python's ``str.isspace``); ``\\Z`` -> ``\\z``; ``(?P<n>``/``(?P=n)`` -> Java
    named groups; ``{,n}`` -> ``{0,n}``; ``[`` and ``&&`` inside a class are literal in Python.
    """
    out: list[str] = ["(?dU)"]
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "s":
                out.append("\\s\\x1c-\\x1f" if in_class else "[\\s\\x1c-\\x1f]")
            elif nxt == "S" and not in_class:
                out.append("[^\\s\\x1c-\\x1f]")
            elif nxt == "Z" and not in_class:
                out.append("\\z")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "]" and not (out[-1] == "[" or out[-1] == "[^"):
                in_class = False
                out.append(c)
            elif c == "[":
                out.append("\\[")
            elif c == "&" and i + 1 < n and pattern[i + 1] == "&":
                out.append("&\\&")
                i += 2
                continue
            else:
                out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            if i + 1 < n and pattern[i + 1] == "^":
                out.append("[^")
                i += 2
            else:
                out.append("[")
                i += 1
            # a ']' right after '[' or '[^' is a literal in both flavours
            if i < n and pattern[i] == "]":
                out.append("\\]")
                i += 1
            continue
        if pattern.startswith("(?P<", i):
            out.append("(?<")
            i += 4
            continue
        if pattern.startswith("(?P=", i):
            j = pattern.index(")", i)
            out.append(f"\\k<{pattern[i + 4:j]}>")
            i = j + 1
            continue
        if pattern.startswith("{,", i):
            out.append("{0,")
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def length_bounds(kw: dict) -> tuple:
    return kw.get("min_value"), kw.get("max_value"), bool(kw.get("strict_min")), bool(kw.get("strict_max"))
