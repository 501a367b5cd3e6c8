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

with

new_posts as (

    select
        user_name,
        age,
        date_joined,
        join_year,
        _loaded_at
    from {{ ref('int_posts_joined') }}
    {% if is_incremental() -%}
        where {{ since_last_run('_loaded_at', this, '_posts_loaded_at', inclusive=false) }}
    {%- endif %}

),

people as (

    select
        {{ group_key(['user_name', 'age', 'date_joined']) }} as person_key,
        user_name,
        age,
        date_joined,
        join_year,
        max(max(_loaded_at)) over () as _posts_loaded_at
    from new_posts
    group by user_name, age, date_joined, join_year

)

select * from people
