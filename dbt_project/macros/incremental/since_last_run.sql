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

{#-
    Staging: bronze deliveries (`column` is their `_ingested_at`) ingested no earlier than the
    latest `_ingested_at` in silver minus `pinpipe_incremental_lookback_hours` (a safety margin; the
    anti-join on the index prevents duplicates).
-#}
{% macro ingested_since_last_run(column, relation) -%}
    {{ since_last_run(
        column, relation, '_ingested_at', var('pinpipe_incremental_lookback_hours', 3)
    ) }}
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

{#-
    The indexes of the rows of `relations` (silver tables with `ind` and `_loaded_at`) loaded since
    the latest `_loaded_at` of the model being built (`this`): a union of selects, for an
    incremental gold model to pick the keys it may have to add.
-#}
{% macro indexes_loaded_since_last_run(relations) -%}
    {%- set selects = [] -%}
    {%- for relation in relations -%}
        {%- do selects.append(
            'select loaded.ind from ' ~ relation ~ ' as loaded where '
            ~ since_last_run('loaded._loaded_at', this, '_loaded_at')
        ) -%}
    {%- endfor -%}
    {{ selects | join('\nunion\n') }}
{%- endmacro %}
