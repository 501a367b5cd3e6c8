{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

bronze_pins as (

    select * from {{ source('pinterest', 'pin') }}

),

{% if is_incremental() %}
    already_loaded as (

        select ind from {{ this }}

    ),
{% endif %}

deliveries as (

    select
        bronze_pins.*,
        cast(bronze_pins.index as bigint) as ind
    from bronze_pins
    {% if is_incremental() %}
        -- only deliveries since the last run (minus a safety lookback) of indexes not yet in silver
        where
            {{ ingested_since_last_run('bronze_pins._ingested_at', this) }}
            and not exists (
                select 1 from already_loaded
                where already_loaded.ind = cast(bronze_pins.index as bigint)
            )
    {% endif %}

),

first_deliveries as (

    select * from deliveries
    {{ keep_first_delivery('ind') }}

),

cleaned as (

    select
        -- the original's columns, in its order (reference/source-data.md §4)
        ind,
        unique_id,
        {{ null_if_placeholder('title', 'title') }} as title,
        {{ null_if_placeholder('description', 'description') }} as description,
        {{ parse_follower_count(null_if_placeholder('follower_count', 'follower_count')) }}
            as follower_count,
        {{ null_if_placeholder('poster_name', 'poster_name') }} as poster_name,
        {{ null_if_placeholder('tag_list', 'tag_list') }} as tag_list,
        {{ null_if_not_in('is_image_or_video', var('pinpipe_media_types')) }} as is_image_or_video,
        {{ null_if_placeholder('image_src', 'image_src') }} as image_src,
        {{ strip_save_location_prefix('save_location') }} as save_location,
        {{ null_if_not_in('category', var('pinpipe_categories')) }} as category,

        -- extra columns
        {{ parse_integer_in_range('downloaded', 0, 1) }} as downloaded,
        _source,
        _topic,
        _partition,
        _offset,
        _landing_object,
        _ingested_at

    from first_deliveries

)

select * from cleaned
