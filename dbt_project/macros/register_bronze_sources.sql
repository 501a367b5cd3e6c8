{#-
    on-run-start hook: make the bronze source relations exist before any node runs.

    duckdb: the `delta` plugin copies a bronze Delta table into the warehouse's `bronze` schema
    when a node that reads it is compiled. Unit tests of the staging models need the source's
    columns before that happens; on a new warehouse they would fail with "relation doesn't
    exist". So a table missing from the warehouse is loaded once here (later runs find the copy
    of the previous run and skip this; the models reload the current bronze anyway).

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
        {%- for table_name in ['pin', 'geo', 'user'] -%}
            {%- set existing = adapter.get_relation(
                database=target.database, schema='bronze', identifier=table_name
            ) -%}
            {%- if existing is none -%}
                {%- do source('pinterest', table_name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as bronze_sources_registered
{% endmacro %}

{% macro spark__register_bronze_sources() %}
    {%- if execute and var('pinpipe_register_bronze', true) -%}
        {%- set lake = env_var('PINPIPE_LAKE', 'data/lake').rstrip('/') -%}
        {%- do run_query('create schema if not exists bronze') -%}
        {%- for table_name in ['pin', 'geo', 'user', 'quarantine'] -%}
            {%- do run_query(
                'create table if not exists bronze.' ~ table_name
                ~ " using delta location '" ~ lake ~ '/bronze/' ~ table_name ~ "'"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as bronze_sources_registered
{% endmacro %}
