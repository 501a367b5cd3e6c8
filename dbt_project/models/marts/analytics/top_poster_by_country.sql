-- Q3a: the poster (poster_name) with the most followers in each country
-- (ties to the alphabetically first poster_name; a missing follower_count is left out).
with

posts as (

    select
        country,
        poster_name,
        follower_count
    from {{ ref('posts') }}
    where
        country is not null
        and poster_name is not null
        and follower_count is not null

),

ranked as (

    select
        country,
        poster_name,
        follower_count,
        row_number() over (
            partition by country
            order by follower_count desc, poster_name asc
        ) as rank_in_country
    from posts

)

select
    country,
    poster_name,
    follower_count
from ranked
where rank_in_country = 1
