"""Parses every statement of a script written by `tokenaudit sql` with sqlglot in its dialect:
the check the SQL tests make of the dialects CI does not run (Trino, BigQuery).

    python tests/sql/parse.py trino stats.sql
"""

import sys

import sqlglot

from run import statements

DIALECTS = {"trino": "trino", "bigquery": "bigquery"}


def main(dialect, path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    count = 0
    for statement in statements(text):
        sqlglot.parse_one(statement, read=DIALECTS[dialect], error_level=sqlglot.ErrorLevel.RAISE)
        count += 1
    if count < 8:
        raise SystemExit(f"{path}: only {count} statements")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
