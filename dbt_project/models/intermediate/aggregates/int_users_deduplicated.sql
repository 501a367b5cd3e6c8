{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='person_key',
        on_schema_change='fail',
    )
}}

-- The distinct people (user_name, age, date_joined) who posted (Q6): an incremental run merges
-- the people of the new posts by their key, so a returning person stays one row.
{%- set person = ['user_name', 'age', 'date_joined'] %}
{%- set incremental = is_incremental() %}

with

new_posts as (

    {{ posts_to_aggregate(person + ['join_year'], incremental) }}

),

people as (

    select
        {{ group_key(person) }} as person_key,
        user_name,
        age,
        date_joined,
        join_year,
        max(max(_loaded_at)) over () as _posts_loaded_at
    from new_posts
    group by user_name, age, date_joined, join_year

)

select * from people
