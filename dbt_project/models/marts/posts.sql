with

joined_posts as (

    select * from {{ ref('int_posts_joined') }}

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
        join_year
    from joined_posts

)

select * from final
