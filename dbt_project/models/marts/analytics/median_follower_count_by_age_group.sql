-- Q5: the lower median follower count of posts per age group.
with

posts as (

    select
        age_group,
        follower_count
    from {{ ref('posts') }}
    where age_group is not null and follower_count is not null

)

select
    age_group,
    {{ lower_median('follower_count') }} as median_follower_count
from posts
group by age_group
