"""Runs a script written by `tokenaudit sql` in DuckDB or in Spark (local[2]), statement by
statement: the engine half of the SQL tests (tests/cli/sql.rs) and of benches/spark.sh.

    python tests/sql/run.py duckdb stats.sql
    python tests/sql/run.py spark stats.sql [--shuffle-partitions N]
"""

import argparse
import sys


def statements(text):
    """The statements of a script: `;` at the end of a line ends one (the writer's layout)."""
    current = []
    for line in text.splitlines():
        if line.startswith("--") and not current:
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(current).strip().rstrip(";")
            if statement:
                yield statement
            current = []
    rest = "\n".join(current).strip()
    if rest:
        yield rest


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("engine", choices=["duckdb", "spark"])
    parser.add_argument("script")
    parser.add_argument("--shuffle-partitions", type=int, default=2)
    args = parser.parse_args()
    with open(args.script, encoding="utf-8") as f:
        script = f.read()
    if args.engine == "duckdb":
        import duckdb

        con = duckdb.connect()
        for statement in statements(script):
            con.execute(statement)
        return 0
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("tokenaudit-stats")
        .config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        for statement in statements(script):
            spark.sql(statement)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
