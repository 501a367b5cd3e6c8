{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='country',
        on_schema_change='fail',
    )
}}

-- The poster with the most followers in each country so far (Q3): an incremental run ranks the
-- new posts of a country together with the poster kept for it (a maximum needs nothing else).

with

new_posts as (

    select
        country,
        poster_name,
        follower_count,
        _loaded_at
    from {{ ref('int_posts_joined') }}
    {% if is_incremental() -%}
        where {{ since_last_run('_loaded_at', this, '_posts_loaded_at', inclusive=false) }}
    {%- endif %}

),

candidates as (

    select
        country,
        poster_name,
        follower_count
    from new_posts
    where
        country is not null
        and poster_name is not null
        and follower_count is not null
    {% if is_incremental() -%}
        union all
        select
            kept.country,
            kept.poster_name,
            kept.follower_count
        from {{ this }} as kept
        where kept.country in (select new_posts.country from new_posts)
    {%- endif %}

),

ranked as (

    select
        country,
        poster_name,
        follower_count,
        row_number() over (
            partition by country
            order by follower_count desc, poster_name asc
        ) as rank_in_country
    from candidates

),

top_posters as (

    select
        country,
        poster_name,
        follower_count,
        (select max(new_posts._loaded_at) from new_posts) as _posts_loaded_at
    from ranked
    where rank_in_country = 1

)

select * from top_posters
