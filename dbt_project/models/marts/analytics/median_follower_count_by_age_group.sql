-- Q5: the lower median follower count of posts per age group.
with

tallies as (

    select
        age_group,
        follower_count,
        post_count
    from {{ ref('int_follower_counts_tallied') }}
    where age_group is not null and follower_count is not null

),

medians as (

    {{ lower_median_of_tallies(
        'tallies', ['age_group'], 'follower_count', 'post_count', 'median_follower_count'
    ) }}

)

select
    age_group,
    median_follower_count
from medians
