{#-
    Bad-input detector (use with severity: warn), one row per value lost in cleaning: a silver row
    whose cleaned column is NULL although the bronze delivery it came from carried a value that is
    not a placeholder of that field, i.e. a value the cleaning rules could not parse or rejected
    ('1.5k', 'abc', age 200, latitude 95, an unknown category, a timestamp that does not parse), or
    a value delivered as a JSON type the data contract does not accept for that field (an object
    as a country, a boolean as an age: docs/data-contract.md, "Accepted JSON types"; a placeholder
    is a JSON string, so such a value is never one). Silver keeps such rows with NULL in that field;
    this test counts them so they show up in every run, and its failing rows say which delivery,
    column, raw value and JSON type (`raw_json_type`, from bronze's `_json_types`; NULL when unknown).

    A delivery whose index is not a post's (negative, or not a bigint) is left out of silver
    altogether: each such bronze row counts as one value lost, column `ind`.

    Arguments: raw_relation (the bronze source), columns (names, the same in silver and bronze),
    index_field (the bronze field of the index: `index` or `ind`).
    Silver and bronze rows are matched on the landing object and offset (one bronze row: two
    incarnations of a topic share offsets, never landing objects). One test
    per model, so a run reads each bronze table once for these checks.
-#}
{% test no_values_lost_in_cleaning(model, raw_relation, columns, index_field) %}
    {#-
        Only the bronze rows ingested between the earliest and the latest `_ingested_at` of the
        silver rows tested can match: that range is read first and written into the SQL as
        constants, so on a daily run the engine skips the bronze files of earlier days by their
        statistics. Only when the test runs (build, test): `dbt compile` or `docs generate` on a new
        warehouse, where silver does not exist yet, read every row instead of querying it.
    -#}
    {%- set ingested_within = 'true' -%}
    {%- if execute and flags.WHICH in ('build', 'test', 'retry') -%}
        {%- set bounds_query -%}
            select
                cast(min(_ingested_at) as {{ dbt.type_string() }}) as earliest,
                cast(max(_ingested_at) as {{ dbt.type_string() }}) as latest
            from {{ model }}
        {%- endset -%}
        {%- set bounds = run_query(bounds_query).rows[0] -%}
        {%- if bounds[0] is none -%}
            {%- set ingested_within = 'false' -%}
        {%- else -%}
            {%- set ingested_within = '_ingested_at between ' ~ timestamp_tz_literal(bounds[0])
                ~ ' and ' ~ timestamp_tz_literal(bounds[1]) -%}
        {%- endif -%}
    {%- endif -%}
    {%- set cleaned_columns, paired_columns = [], [] -%}
    {#- the deliveries left out of silver: their index is not a post's -#}
    {%- set raw_columns = [
        'try_cast(bronze.' ~ index_field ~ ' as bigint) as post_index',
        'bronze.' ~ index_field ~ ' as raw_index',
        json_type_of(index_field) ~ ' as raw_type_index',
    ] -%}
    {%- set lost_selects = [
        "select _topic, _partition, _offset, 'ind' as column_name, raw_index as raw_value,"
        ~ " raw_type_index as raw_json_type from raw where post_index is null or post_index < 0"
    ] -%}
{%- for column in columns -%}
    {%- do cleaned_columns.append(column ~ ' as cleaned_' ~ column) -%}
    {%- do raw_columns.append(column ~ ' as raw_' ~ column) -%}
    {%- do raw_columns.append(json_type_of(column) ~ ' as raw_type_' ~ column) -%}
    {%- do paired_columns.append('cleaned.cleaned_' ~ column) -%}
    {%- do lost_selects.append(
        "select _topic, _partition, _offset, '" ~ column ~ "' as column_name, raw_" ~ column
        ~ " as raw_value, raw_type_" ~ column ~ " as raw_json_type from paired where cleaned_" ~ column
        ~ " is null and " ~ null_if_placeholder('raw_' ~ column, column) ~ " is not null"
    ) -%}
{%- endfor %}

with

cleaned as (

    select
        _topic,
        _partition,
        _offset,
        _landing_object,
        {{ cleaned_columns | join(',\n            ') }}
    from {{ model }}

),

raw as (

    select
        _topic,
        _partition,
        _offset,
        _landing_object,
        {{ raw_columns | join(',\n            ') }}
    from {{ raw_relation }} as bronze
    where {{ ingested_within }}

),

paired as (

    select
        raw.*,
        {{ paired_columns | join(',\n            ') }}
    from cleaned
    inner join raw
        on
            cleaned._landing_object = raw._landing_object
            and cleaned._offset = raw._offset

),

lost as (

    {{ lost_selects | join('\n        union all\n        ') }}

)

select * from lost
{% endtest %}
