-- Q2: the most popular category each post year, 2018-2022 (ties to the alphabetically first category).
with

counted_posts as (

    select
        post_year,
        category,
        post_count
    from {{ ref('int_posts_counted') }}
    where
        post_year between {{ var('pinpipe_post_years')[0] }} and {{ var('pinpipe_post_years')[1] }}
        and category is not null

),

category_counts as (

    select
        post_year,
        category,
        cast(sum(post_count) as {{ dbt.type_bigint() }}) as category_count
    from counted_posts
    group by post_year, category

),

ranked as (

    select
        post_year,
        category,
        category_count,
        row_number() over (
            partition by post_year
            order by category_count desc, category asc
        ) as rank_in_year
    from category_counts

)

select
    post_year,
    category,
    category_count
from ranked
where rank_in_year = 1
