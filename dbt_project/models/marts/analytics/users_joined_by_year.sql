-- Q6: distinct users (user_name, age, date_joined) per join year, 2015-2020.
with

people as (

    select join_year
    from {{ ref('int_users_deduplicated') }}
    where join_year between {{ var('pinpipe_join_years')[0] }} and {{ var('pinpipe_join_years')[1] }}

)

select
    join_year,
    count(*) as number_users_joined
from people
group by join_year
