-- Q6: distinct users (user_name, age, date_joined) per join year, 2015-2020.
with

posts as (

    select
        user_name,
        age,
        date_joined,
        join_year
    from {{ ref('posts') }}
    where join_year between {{ var('pinpipe_join_years')[0] }} and {{ var('pinpipe_join_years')[1] }}

),

people as (

    select distinct
        join_year,
        user_name,
        age,
        date_joined
    from posts

)

select
    join_year,
    count(*) as number_users_joined
from people
group by join_year
