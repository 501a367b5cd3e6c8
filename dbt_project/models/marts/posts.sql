{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{%- set silver_tables = [
    ref('stg_pinterest__pins'),
    ref('stg_pinterest__geos'),
    ref('stg_pinterest__users'),
] %}

with

{% if is_incremental() -%}
    -- posts completed by silver rows loaded since this table's last load, not yet in it: the join
    -- of int_posts_joined (the same macro) over those indexes only, not over all of silver
    candidates as (

        {{ indexes_loaded_since_last_run(silver_tables) }}

    ),

    new_indexes as (

        select candidates.ind
        from candidates
        left join {{ this }} as already_loaded on candidates.ind = already_loaded.ind
        where already_loaded.ind is null

    ),

    joined_posts as (

        {{ join_posts(silver_tables[0], silver_tables[1], silver_tables[2], indexes='new_indexes') }}

    ),
{%- else %}
    joined_posts as (

        select * from {{ ref('int_posts_joined') }}

    ),
{%- endif %}

final as (

    select
        ind,
        unique_id,
        title,
        description,
        follower_count,
        poster_name,
        tag_list,
        is_image_or_video,
        image_src,
        save_location,
        category,
        downloaded,
        country,
        coordinates,
        latitude,
        longitude,
        post_timestamp,
        post_year,
        user_name,
        first_name,
        last_name,
        age,
        age_group,
        date_joined,
        join_year,
        {{ loaded_at() }} as _loaded_at
    from joined_posts

)

select * from final
