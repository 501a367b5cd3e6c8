{#-
    Post events: the silver `pins`, `geos` and `users` (relations or CTE names) joined on the event
    index with inner joins, so a post counts once however often it was delivered and only when its
    pin, geo and user records have all arrived (design.md §4), plus the derived analytics keys
    post_year, age_group and join_year. A select statement: the view int_posts_joined over all of
    silver, and gold posts' incremental runs over the new indexes only.
-#}
{% macro join_posts(pins, geos, users) -%}
    select
        pins.ind,
        pins.unique_id,
        pins.title,
        pins.description,
        pins.follower_count,
        pins.poster_name,
        pins.tag_list,
        pins.is_image_or_video,
        pins.image_src,
        pins.save_location,
        pins.category,
        pins.downloaded,
        geos.country,
        geos.coordinates,
        geos.latitude,
        geos.longitude,
        geos.timestamp as post_timestamp,
        {{ year_of('geos.timestamp') }} as post_year,
        users.user_name,
        users.first_name,
        users.last_name,
        users.age,
        {{ age_group('users.age') }} as age_group,
        users.date_joined,
        {{ year_of('users.date_joined') }} as join_year
    from {{ pins }} as pins
    inner join {{ geos }} as geos on pins.ind = geos.ind
    inner join {{ users }} as users on pins.ind = users.ind
{%- endmacro %}
