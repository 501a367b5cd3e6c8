{#-
    `_loaded_at`: when a row was written into its silver or gold table (the writing transaction's
    time, UTC). Incremental models read their inputs' rows loaded since their own latest
    `_loaded_at`, and data tests on incremental models check the latest load (see
    get_where_subquery).
-#}
{% macro loaded_at() -%}
    {{ dbt.current_timestamp() }}
{%- endmacro %}
