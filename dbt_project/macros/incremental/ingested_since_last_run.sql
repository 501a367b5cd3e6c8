{#-
    The condition an incremental staging run puts on a bronze delivery's `_ingested_at` (`column`):
    ingested no earlier than the latest `_ingested_at` already in `relation` (the model's silver
    table) minus `pinpipe_incremental_lookback_hours`.

    The bound is read from silver when the model runs and written into the SQL as a constant, so
    the engine skips the bronze files ingested before it by their statistics (on DuckDB the filter
    reaches the Delta table's Arrow scan) instead of reading all of bronze. An empty silver table
    (e.g. built before anything arrived) gives no bound: every delivery is read.
-#}
{% macro ingested_since_last_run(column, relation) -%}
    {%- set bound = none -%}
    {%- if execute -%}
        {%- set bound_query -%}
            select cast(
                {{ dbt.dateadd(
                    'hour', -1 * var('pinpipe_incremental_lookback_hours', 3), 'max(_ingested_at)'
                ) }} as {{ dbt.type_string() }}
            ) as bound
            from {{ relation }}
        {%- endset -%}
        {%- set bound = run_query(bound_query).columns[0].values()[0] -%}
    {%- endif -%}
    {%- if bound is none -%}
        true
    {%- else -%}
        {{ column }} >= {{ ingested_at_literal(bound) }}
    {%- endif -%}
{%- endmacro %}

{#- A constant of the bronze `_ingested_at` type from its text. -#}
{% macro ingested_at_literal(text) -%}
    {{ return(adapter.dispatch('ingested_at_literal', 'pinpipe')(text)) }}
{%- endmacro %}

{% macro default__ingested_at_literal(text) -%}
    cast('{{ text }}' as timestamp with time zone)
{%- endmacro %}

{% macro spark__ingested_at_literal(text) -%}
    cast('{{ text }}' as timestamp)
{%- endmacro %}
