"""Stand-in for dbt's cross-database ``dbt.*`` macros in sqlfluff's jinja templater (see .sqlfluff).

Renders what dbt-duckdb renders, closely enough for linting. Not used by dbt itself.
"""


def dateadd(datepart: str, interval: object, from_date_or_timestamp: str) -> str:
    """dbt.dateadd on DuckDB."""
    return f"({from_date_or_timestamp} + cast({interval or 0} as bigint) * interval 1 {datepart})"


def current_timestamp() -> str:
    """dbt.current_timestamp on DuckDB."""
    return "now()"


def type_string() -> str:
    """dbt.type_string on DuckDB."""
    return "varchar"


def type_bigint() -> str:
    """dbt.type_bigint on DuckDB."""
    return "bigint"


def string_literal(value: object) -> str:
    """dbt.string_literal on DuckDB."""
    return f"'{value}'"
