{#-
    The build stamp: one `_loaded_at` value for every row one dbt invocation writes, and greater
    than every stamp written before, whatever the clocks say (described in macros/_macros.yml).

    The incremental models compare `_loaded_at` across tables (a model reads its inputs' rows
    loaded since its own latest load). With the wall clock as the stamp, a build whose clock was
    behind the previous one's (an NTP step, a restored VM, two workers with different clocks) wrote
    rows that later builds never read again. So the on-run-start hook `open_build_stamp` records,
    in `pinpipe_meta.build_stamps`, the invocation's stamp: the current time, or one microsecond
    after the latest stamp already recorded when the clock is behind it. On a warehouse built
    before the table existed, the latest `_loaded_at` of every incremental model counts as
    recorded. The models write `build_stamp()`, a scalar subquery the engine evaluates once.
-#}
{% macro open_build_stamp() -%}
    {%- if execute -%}
        {%- do run_query('create schema if not exists pinpipe_meta') -%}
        {%- do run_query(build_stamps_ddl()) -%}
        {%- set recorded = run_query('select count(*) as stamps from ' ~ build_stamps_table()) -%}
        {%- set floors = ['(select max(build_stamp) from ' ~ build_stamps_table() ~ ')'] -%}
        {%- if recorded.columns[0].values()[0] == 0 -%}
            {%- for node in graph.nodes.values()
                if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
                {%- set relation = adapter.get_relation(
                    database=node.database, schema=node.schema, identifier=node.alias
                ) -%}
                {%- if relation is not none -%}
                    {%- for column in adapter.get_columns_in_relation(relation)
                        if column.name | lower in ['_loaded_at', '_posts_loaded_at'] -%}
                        {%- do floors.append('(select max(' ~ column.name ~ ') from ' ~ relation ~ ')') -%}
                    {%- endfor -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
        {%- set candidates = [dbt.current_timestamp()] -%}
        {%- for floor in floors -%}
            {%- do candidates.append(
                'coalesce(' ~ floor ~ ' + interval 1 microsecond, ' ~ dbt.current_timestamp() ~ ')'
            ) -%}
        {%- endfor -%}
        {%- do run_query(
            'insert into ' ~ build_stamps_table() ~ " select '" ~ invocation_id ~ "', greatest("
            ~ candidates | join(', ') ~ ')'
        ) -%}
        {#- the models read it on connections of their own: it must be committed before they run -#}
        {%- do adapter.commit() -%}
    {%- endif -%}
    select 1 as build_stamp_opened
{%- endmacro %}

{#- This invocation's stamp, as SQL (a scalar subquery). -#}
{% macro build_stamp() -%}
    (
        select max(stamps.build_stamp) from {{ build_stamps_table() }} as stamps
        where stamps.invocation_id = '{{ invocation_id }}'
    )
{%- endmacro %}

{% macro build_stamps_table() -%}
    pinpipe_meta.build_stamps
{%- endmacro %}

{% macro build_stamps_ddl() -%}
    {{ return(adapter.dispatch('build_stamps_ddl', 'pinpipe')()) }}
{%- endmacro %}

{% macro default__build_stamps_ddl() -%}
    create table if not exists {{ build_stamps_table() }} (
        invocation_id varchar, build_stamp timestamp with time zone
    )
{%- endmacro %}

{% macro spark__build_stamps_ddl() -%}
    create table if not exists {{ build_stamps_table() }} (
        invocation_id string, build_stamp timestamp
    ) using delta
{%- endmacro %}
