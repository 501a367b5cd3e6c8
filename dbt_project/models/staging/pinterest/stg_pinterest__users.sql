{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

first_deliveries as (

    {{ first_new_deliveries(source('pinterest', 'user'), 'ind', 'index_value') }}

),

cleaned as (

    select
        -- the original's columns, in its order (reference/source-data.md §4)
        index_value as ind,
        {{ full_name('first_name', 'last_name') }} as user_name,
        {{ parse_integer_in_range('age', 0, 120, max_digits=3) }} as age,
        {{ parse_iso_timestamp('date_joined') }} as date_joined,

        -- extra columns
        first_name,
        last_name,
        _source,
        _topic,
        _partition,
        _offset,
        _landing_object,
        _ingested_at

    from first_deliveries

)

select * from cleaned
