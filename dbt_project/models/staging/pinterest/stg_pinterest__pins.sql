{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

first_deliveries as (

    {{ first_new_deliveries(source('pinterest', 'pin'), 'index', 'ind') }}

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
