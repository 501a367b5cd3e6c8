{#-
    The condition an incremental run puts on a row's watermark `column`: no earlier than the latest
    `watermark` already in `relation` (the model's own table) minus `lookback_hours`; with
    `inclusive=false`, strictly later than it (for models that must read each input row exactly
    once, e.g. counts that add up).

    The bound is read from the model's table when the model runs and written into the SQL as a
    constant, so the engine skips the files or row groups before it by their statistics (on DuckDB
    the filter reaches the Delta table's Arrow scan and the silver tables' zone maps) instead of
    reading all of history. An empty table (e.g. built before anything arrived) gives no bound:
    every row is read.
-#}
{% macro since_last_run(column, relation, watermark, lookback_hours=0, inclusive=true) -%}
    {%- set bound = none -%}
    {%- if execute -%}
        {%- set bound_query -%}
            select cast(
                {{ dbt.dateadd('hour', -1 * lookback_hours, 'max(' ~ watermark ~ ')') }}
                as {{ dbt.type_string() }}
            ) as bound
            from {{ relation }}
        {%- endset -%}
        {%- set bound = run_query(bound_query).columns[0].values()[0] -%}
    {%- endif -%}
    {%- if bound is none -%}
        true
    {%- else -%}
        {{ column }} {{ '>=' if inclusive else '>' }} {{ timestamp_tz_literal(bound) }}
    {%- endif -%}
{%- endmacro %}

{#- A constant of the type of `_ingested_at` / `_loaded_at` (timestamp with time zone) from its text. -#}
{% macro timestamp_tz_literal(text) -%}
    {{ return(adapter.dispatch('timestamp_tz_literal', 'pinpipe')(text)) }}
{%- endmacro %}

{% macro default__timestamp_tz_literal(text) -%}
    cast('{{ text }}' as timestamp with time zone)
{%- endmacro %}

{% macro spark__timestamp_tz_literal(text) -%}
    cast('{{ text }}' as timestamp)
{%- endmacro %}
