{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

joined_posts as (

    select joined.* from {{ ref('int_posts_joined') }} as joined
    {% if is_incremental() -%}
        -- the posts joined since this table's latest load that it does not hold yet
        where
            {{ since_last_run('joined._loaded_at', this, '_loaded_at') }}
            and not exists (
                select 1 from {{ this }} as already_loaded
                where already_loaded.ind = joined.ind
            )
    {%- endif %}

),

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
        {{ build_stamp() }} as _loaded_at
    from joined_posts

)

select * from final
