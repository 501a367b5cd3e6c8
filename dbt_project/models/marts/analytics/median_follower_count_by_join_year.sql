-- Q7: the lower median follower count of posts by the users' join year, 2015-2020.
with

posts as (

    select
        join_year,
        follower_count
    from {{ ref('posts') }}
    where
        join_year between {{ var('pinpipe_join_years')[0] }} and {{ var('pinpipe_join_years')[1] }}
        and follower_count is not null

)

select
    join_year,
    {{ lower_median('follower_count') }} as median_follower_count
from posts
group by join_year
