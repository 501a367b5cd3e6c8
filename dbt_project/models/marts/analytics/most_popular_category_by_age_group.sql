-- Q4: the most popular category per age group (ties to the alphabetically first category).
with

counted_posts as (

    select
        age_group,
        category,
        post_count
    from {{ ref('int_posts_counted') }}
    where
        age_group is not null
        and category is not null

),

category_counts as (

    select
        age_group,
        category,
        cast(sum(post_count) as {{ dbt.type_bigint() }}) as category_count
    from counted_posts
    group by age_group, category

),

ranked as (

    select
        age_group,
        category,
        category_count,
        row_number() over (
            partition by age_group
            order by category_count desc, category asc
        ) as rank_in_group
    from category_counts

)

select
    age_group,
    category,
    category_count
from ranked
where rank_in_group = 1
