-- Q3a: the poster (poster_name) with the most followers in each country
-- (ties to the alphabetically first poster_name; a missing follower_count is left out).
-- int_top_posters_kept keeps this ranking up to date run by run.
with

kept as (

    select
        country,
        poster_name,
        follower_count
    from {{ ref('int_top_posters_kept') }}

)

select * from kept
