-- Q3b: the country whose top poster has the most followers (one row; ties to the first country).
with

top_posters as (

    select * from {{ ref('top_poster_by_country') }}

),

ranked as (

    select
        country,
        follower_count,
        row_number() over (order by follower_count desc, country asc) as rank_overall
    from top_posters

)

select
    country,
    follower_count
from ranked
where rank_overall = 1
