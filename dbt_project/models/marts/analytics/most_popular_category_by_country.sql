-- Q1: the most popular category in each country (ties to the alphabetically first category).
with

counted_posts as (

    select
        country,
        category,
        post_count
    from {{ ref('int_posts_counted') }}
    where
        country is not null
        and category is not null

),

category_counts as (

    select
        country,
        category,
        cast(sum(post_count) as {{ dbt.type_bigint() }}) as category_count
    from counted_posts
    group by country, category

),

ranked as (

    select
        country,
        category,
        category_count,
        row_number() over (
            partition by country
            order by category_count desc, category asc
        ) as rank_in_country
    from category_counts

)

select
    country,
    category,
    category_count
from ranked
where rank_in_country = 1
