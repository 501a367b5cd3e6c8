"""Stand-in for dbt's ``adapter`` object in sqlfluff's jinja templater (see .sqlfluff).

Only what the project's macros use: ``adapter.dispatch(name, namespace)`` resolves to the
project's ``duckdb__<name>`` or ``default__<name>`` macro, as dbt does on the duckdb target.
Not used by dbt itself.
"""

from typing import Any

import jinja2


@jinja2.pass_context
def dispatch(context: Any, macro_name: str, macro_namespace: str | None = None) -> Any:
    """Return the duckdb implementation of a dispatched macro."""
    for prefix in ("duckdb__", "default__"):
        macro = context.get(prefix + macro_name)
        if macro is not None:
            return macro
    raise LookupError(f"no duckdb__ or default__ implementation of macro {macro_name!r}")
