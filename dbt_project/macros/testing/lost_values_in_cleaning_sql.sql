{#-
    The SQL of the no_values_lost_in_cleaning test (tests/generic): one row per cleaned column
    of `model` that is NULL although the matching bronze delivery in `raw_relation` carried a
    value that is not a placeholder.

    A silver row keeps its delivery's `_ingested_at`, so only the bronze rows ingested between the
    earliest and the latest `_ingested_at` of the silver rows tested can match: that range is read
    first and written into the SQL as constants, so on a daily run (the latest load tested) the
    engine skips the bronze files of earlier days by their statistics instead of reading all of them.
-#}
{% macro lost_values_in_cleaning_sql(model, raw_relation, columns) -%}
    {%- set cleaned_columns, raw_columns, paired_columns, lost_selects = [], [], [], [] -%}
    {%- for column in columns -%}
        {%- do cleaned_columns.append(column ~ ' as cleaned_' ~ column) -%}
        {%- do raw_columns.append(column ~ ' as raw_' ~ column) -%}
        {%- do paired_columns.append('cleaned.cleaned_' ~ column) -%}
        {%- do lost_selects.append(
            "select _topic, _partition, _offset, '" ~ column ~ "' as column_name, raw_" ~ column
            ~ " as raw_value from paired where cleaned_" ~ column ~ " is null and "
            ~ null_if_placeholder('raw_' ~ column, column) ~ " is not null"
        ) -%}
    {%- endfor %}

    with

    cleaned as (

        select
            _topic,
            _partition,
            _offset,
            {{ cleaned_columns | join(',\n            ') }}
        from {{ model }}

    ),

    raw as (

        select
            _topic,
            _partition,
            _offset,
            {{ raw_columns | join(',\n            ') }}
        from {{ raw_relation }}
        where {{ ingested_within(model) }}

    ),

    paired as (

        select
            raw.*,
            {{ paired_columns | join(',\n            ') }}
        from cleaned
        inner join raw
            on
                cleaned._topic = raw._topic
                and cleaned._partition = raw._partition
                and cleaned._offset = raw._offset

    ),

    lost as (

        {{ lost_selects | join('\n        union all\n        ') }}

    )

    select * from lost
{%- endmacro %}


{#-
    The condition on a bronze `_ingested_at` to lie within the range of the rows of `model`. Read
    when the test runs (build, test); `dbt compile` or `docs generate` on a new warehouse, where
    silver does not exist yet, render `true` instead of querying it.
-#}
{% macro ingested_within(model) -%}
    {%- if execute and flags.WHICH in ('build', 'test', 'retry') -%}
        {%- set bounds_query -%}
            select
                cast(min(_ingested_at) as {{ dbt.type_string() }}) as earliest,
                cast(max(_ingested_at) as {{ dbt.type_string() }}) as latest
            from {{ model }}
        {%- endset -%}
        {%- set bounds = run_query(bounds_query).rows[0] -%}
        {%- if bounds[0] is none -%}
            false
        {%- else -%}
            _ingested_at between {{ timestamp_tz_literal(bounds[0]) }} and {{ timestamp_tz_literal(bounds[1]) }}
        {%- endif -%}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
