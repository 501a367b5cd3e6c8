-- Q8: the lower median follower count of posts by age group and join year, 2015-2020.
with

tallies as (

    select
        age_group,
        join_year,
        follower_count,
        post_count
    from {{ ref('int_follower_counts_tallied') }}
    where
        join_year between {{ var('pinpipe_join_years')[0] }} and {{ var('pinpipe_join_years')[1] }}
        and age_group is not null
        and follower_count is not null

),

medians as (

    {{ lower_median_of_tallies(
        'tallies', ['age_group', 'join_year'], 'follower_count', 'post_count', 'median_follower_count'
    ) }}

)

select
    age_group,
    join_year,
    median_follower_count
from medians
