{#-
    on-run-start hook: make the bronze source relations readable before any node runs.

    duckdb: the `delta` plugin registers a bronze Delta table's current version (deltalake ->
    Arrow dataset, in this process) behind a view `bronze.<table>` when `source()` resolves, and
    queries read it in place: nothing is copied into the warehouse. The view exists in the warehouse
    file, the dataset only in the process that registered it. Unit tests of the staging models
    need the view's columns before their model runs (on a new warehouse: "relation doesn't
    exist"), and a query of the view in a process that did not register it fails; so every dbt
    process registers all of them here, at its start (cheap: a Delta log read each).

    spark / databricks: register each bronze Delta table as an external table over
    `<PINPIPE_LAKE>/bronze/<table>` if it is not in the metastore yet (set the var
    `pinpipe_register_bronze: false` where the tables are managed elsewhere).
-#}
{% macro register_bronze_sources() %}
    {{ return(adapter.dispatch('register_bronze_sources', 'pinpipe')()) }}
{% endmacro %}

{% macro default__register_bronze_sources() %}
    select 1 as bronze_sources_registered
{% endmacro %}

{% macro duckdb__register_bronze_sources() %}
    {%- if execute -%}
        {%- for table_name in bronze_table_names() -%}
            {#- a warehouse of an earlier version holds copies (tables) where the views go -#}
            {%- set existing = adapter.get_relation(
                database=target.database, schema='bronze', identifier=table_name
            ) -%}
            {%- if existing is not none and not existing.is_view -%}
                {%- do adapter.drop_relation(existing) -%}
                {#- the plugin registers on a cursor of its own: it must see the drop -#}
                {%- do adapter.commit() -%}
            {%- endif -%}
            {%- do source('pinterest', table_name) -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as bronze_sources_registered
{% endmacro %}

{% macro spark__register_bronze_sources() %}
    {%- if execute and var('pinpipe_register_bronze', true) -%}
        {#- the lake default is <repository>/data/lake, as in profiles.yml and the sources -#}
        {%- set d = (flags.PROFILES_DIR | string).rstrip('/') -%}
        {%- set repository = d[:-11] if d.endswith('/dbt_project') or d == 'dbt_project' else d ~ '/' -%}
        {%- set lake = env_var('PINPIPE_LAKE', repository ~ 'data/lake').rstrip('/') -%}
        {%- do run_query('create schema if not exists bronze') -%}
        {%- for table_name in bronze_table_names() -%}
            {%- do run_query(
                'create table if not exists bronze.' ~ table_name
                ~ " using delta location '" ~ lake ~ '/bronze/' ~ table_name ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as bronze_sources_registered
{% endmacro %}

{#- Every bronze table the sources read: the batch tables, the quarantine, the stream tables. -#}
{% macro bronze_table_names() -%}
    {{ return(['pin', 'geo', 'user', 'quarantine', 'stream_pin', 'stream_geo', 'stream_user']) }}
{%- endmacro %}
