-- Q7: the lower median follower count of posts by the users' join year, 2015-2020.
with

tallies as (

    select
        join_year,
        follower_count,
        post_count
    from {{ ref('int_follower_counts_tallied') }}
    where
        join_year between {{ var('pinpipe_join_years')[0] }} and {{ var('pinpipe_join_years')[1] }}
        and follower_count is not null

),

medians as (

    {{ lower_median_of_tallies(
        'tallies', ['join_year'], 'follower_count', 'post_count', 'median_follower_count'
    ) }}

)

select
    join_year,
    median_follower_count
from medians
