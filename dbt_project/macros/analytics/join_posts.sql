{#-
    Post events: the silver `pins`, `geos` and `users` (relations or CTE names) joined on the event
    index with inner joins, so a post counts once however often it was delivered and only when its
    pin, geo and user records have all arrived (design.md §4), plus the derived analytics keys
    post_year, age_group and join_year. A select statement: the view int_posts_joined over all of
    silver; with `indexes` (a relation or CTE name with an `ind` column) only the rows of those
    indexes are read from each of the three, as gold posts' incremental runs do for the new indexes.
-#}
{% macro join_posts(pins, geos, users, indexes=none) -%}
    {%- set of_indexes = '' if indexes is none else
        ' where ind in (select ' ~ indexes ~ '.ind from ' ~ indexes ~ ')' -%}
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
    from (select * from {{ pins }}{{ of_indexes }}) as pins
    inner join (select * from {{ geos }}{{ of_indexes }}) as geos on pins.ind = geos.ind
    inner join (select * from {{ users }}{{ of_indexes }}) as users on pins.ind = users.ind
{%- endmacro %}
