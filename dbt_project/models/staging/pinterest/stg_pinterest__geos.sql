{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

bronze_geos as (

    select * from {{ source('pinterest', 'geo') }}

),

{% if is_incremental() %}
    already_loaded as (

        select ind from {{ this }}

    ),
{% endif %}

deliveries as (

    select
        bronze_geos.*,
        cast(bronze_geos.ind as bigint) as index_value
    from bronze_geos
    {% if is_incremental() %}
        -- only deliveries since the last run (minus a safety lookback) of indexes not yet in silver
        where
            {{ ingested_since_last_run('bronze_geos._ingested_at', this) }}
            and not exists (
                select 1 from already_loaded
                where already_loaded.ind = cast(bronze_geos.ind as bigint)
            )
    {% endif %}

),

first_deliveries as (

    select * from deliveries
    {{ keep_first_delivery('index_value') }}

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
