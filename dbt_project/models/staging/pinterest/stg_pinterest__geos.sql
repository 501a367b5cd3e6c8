{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

first_deliveries as (

    {{ first_new_deliveries(source('pinterest', 'geo'), 'ind', 'index_value') }}

),

parsed as (

    select
        index_value,
        country,
        {{ parse_double_in_range('latitude', -90, 90) }} as latitude,
        {{ parse_double_in_range('longitude', -180, 180) }} as longitude,
        {{ parse_iso_timestamp('timestamp') }} as posted_at,
        _source,
        _topic,
        _partition,
        _offset,
        _landing_object,
        _ingested_at
    from first_deliveries

),

cleaned as (

    select
        -- the original's columns, in its order (reference/source-data.md §4)
        index_value as ind,
        country,
        {{ to_coordinates('latitude', 'longitude') }} as coordinates,
        posted_at as timestamp,  -- noqa: RF04

        -- extra columns
        latitude,
        longitude,
        _source,
        _topic,
        _partition,
        _offset,
        _landing_object,
        _ingested_at

    from parsed

)

select * from cleaned
