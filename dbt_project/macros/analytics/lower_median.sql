{#-
    The lower median of design.md §4: the value at position ceil(n/2) of the ascending non-NULL
    values (what the original's percentile_approx(x, 0.5) returned). An aggregate, cast to
    `data_type` (default bigint: Spark's percentile_disc answers a double, DuckDB's the input type).
-#}
{% macro lower_median(expression, data_type=none) -%}
    cast(
        percentile_disc(0.5) within group (order by {{ expression }})
        as {{ data_type or dbt.type_bigint() }}
    )
{%- endmacro %}
