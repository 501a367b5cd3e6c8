-- The engine-specific (dispatch) macros, checked on the running engine against the values the
-- project expects on every engine: a row is a macro that renders a different value here. Runs in
-- every `dbt build`, on DuckDB and on Spark alike.
{%- set null_text = 'cast(null as ' ~ dbt.type_string() ~ ')' %}

with

cases as (

    select
        'array_of' as macro_name,
        cast(to_json({{ array_of(['1', '2', '3']) }}) as {{ dbt.type_string() }}) as actual,
        '[1,2,3]' as expected

    union all

    select
        'array_element: 1-based, NULL past the end' as macro_name,
        concat(
            cast({{ array_element(array_of(['10', '20']), 1) }} as {{ dbt.type_string() }}),
            '/',
            coalesce(cast({{ array_element(array_of(['10', '20']), 3) }} as {{ dbt.type_string() }}), 'null')
        ) as actual,
        '10/null' as expected

    union all

    select
        'regex_full_match: whole string' as macro_name,
        cast({{ regex_full_match("'abc'", 'a.c') }} as {{ dbt.type_string() }}) as actual,
        'true' as expected

    union all

    select
        'regex_full_match: part of the string' as macro_name,
        cast({{ regex_full_match("'xabc'", 'a.c') }} as {{ dbt.type_string() }}) as actual,
        'false' as expected

    union all

    select
        'regex_full_match: NULL' as macro_name,
        cast({{ regex_full_match(null_text, 'a.c') }} as {{ dbt.type_string() }}) as actual,
        null as expected

    union all

    select
        'parse_iso_timestamp: naive is UTC' as macro_name,
        cast({{ parse_iso_timestamp("'2020-08-28T03:52:47'") }} as {{ dbt.type_string() }}) as actual,
        '2020-08-28 03:52:47' as expected

    union all

    select
        'parse_iso_timestamp: offset converted to UTC' as macro_name,
        cast({{ parse_iso_timestamp("'2020-08-28T05:52:47+02:00'") }} as {{ dbt.type_string() }}) as actual,
        '2020-08-28 03:52:47' as expected

    union all

    select
        'parse_iso_timestamp: month 13 is NULL' as macro_name,
        cast({{ parse_iso_timestamp("'2020-13-01T00:00:00'") }} as {{ dbt.type_string() }}) as actual,
        null as expected

    union all

    select
        'timestamp_tz_literal' as macro_name,
        cast(year({{ timestamp_tz_literal('2021-06-01 12:00:00+00') }}) as {{ dbt.type_string() }}) as actual,
        '2021' as expected

    union all

    select
        'utc_wall_clock: an instant as its UTC wall-clock time' as macro_name,
        cast(
            {{ utc_wall_clock(timestamp_tz_literal('2021-06-01 12:00:00+02:00')) }} as {{ dbt.type_string() }}
        ) as actual,
        '2021-06-01 10:00:00' as expected

    union all

    select
        'timestamp_ntz_literal' as macro_name,
        cast({{ timestamp_ntz_literal('2009-01-01 00:00:00') }} as {{ dbt.type_string() }}) as actual,
        '2009-01-01 00:00:00' as expected

),

disagreements as (

    select
        macro_name,
        actual,
        expected
    from cases
    where coalesce(actual, '<null>') != coalesce(expected, '<null>')

)

select * from disagreements
