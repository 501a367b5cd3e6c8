-- Live: posts per country that arrived on the stream in the last 5 minutes and the last hour
-- (a post counted by its geo record, the first delivery of its index; a view, evaluated when queried).
with

geos as (

    select * from {{ ref('stg_pinterest__live_geos') }}

),

last_hour as (

    select
        country,
        _arrival_at
    from geos
    where _arrival_at >= {{ dbt.dateadd('minute', -60, dbt.current_timestamp()) }}

),

counted as (

    select
        country,
        count(
            case when _arrival_at >= {{ dbt.dateadd('minute', -5, dbt.current_timestamp()) }} then 1 end
        ) as posts_last_5_minutes,
        count(*) as posts_last_hour,
        max(_arrival_at) as last_arrival_at
    from last_hour
    group by country

)

select * from counted
