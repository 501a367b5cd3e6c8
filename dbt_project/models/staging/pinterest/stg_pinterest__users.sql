{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

bronze_users as (

    select * from {{ source('pinterest', 'user') }}

),

{% if is_incremental() %}
    already_loaded as (

        select ind from {{ this }}

    ),
{% endif %}

deliveries as (

    select
        bronze_users.*,
        cast(bronze_users.ind as bigint) as index_value
    from bronze_users
    {% if is_incremental() %}
        -- only deliveries since the last run (minus a safety lookback) of indexes not yet in silver
        where
            {{ ingested_since_last_run('bronze_users._ingested_at', this) }}
            and not exists (
                select 1 from already_loaded
                where already_loaded.ind = cast(bronze_users.ind as bigint)
            )
    {% endif %}

),

first_deliveries as (

    select * from deliveries
    {{ keep_first_delivery('index_value') }}

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
