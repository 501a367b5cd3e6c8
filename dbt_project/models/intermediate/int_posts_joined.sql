{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

{%- set silver_tables = [
    ref('stg_pinterest__pins'),
    ref('stg_pinterest__geos'),
    ref('stg_pinterest__users'),
] %}

with

{% if is_incremental() -%}
    -- the indexes of the silver rows loaded since this table's latest load (a look-back on
    -- _loaded_at), less those already joined: only the posts these rows may complete are joined
    loaded_indexes as (

        {% for silver_table in silver_tables -%}
            select loaded.ind
            from {{ silver_table }} as loaded
            where {{ since_last_run('loaded._loaded_at', this, '_loaded_at') }}
            {% if not loop.last %}union{% endif %}
        {% endfor %}

    ),

    new_indexes as (

        select loaded_indexes.ind
        from loaded_indexes
        left join {{ this }} as already_joined on loaded_indexes.ind = already_joined.ind
        where already_joined.ind is null

    ),
{%- endif %}

pins as (

    select * from {{ silver_tables[0] }}
    {% if is_incremental() -%}
        where ind in (select new_indexes.ind from new_indexes)
    {%- endif %}

),

geos as (

    select * from {{ silver_tables[1] }}
    {% if is_incremental() -%}
        where ind in (select new_indexes.ind from new_indexes)
    {%- endif %}

),

users as (

    select * from {{ silver_tables[2] }}
    {% if is_incremental() -%}
        where ind in (select new_indexes.ind from new_indexes)
    {%- endif %}

),

-- inner joins: a post counts only when its pin, geo and user records have all arrived
joined as (

    select
        pins.ind,
        pins.unique_id,
        pins.title,
        pins.description,
        pins.follower_count,
        pins.poster_name,
        pins.tag_list,
        pins.is_image_or_video,
        pins.image_src,
        pins.save_location,
        pins.category,
        pins.downloaded,
        geos.country,
        geos.coordinates,
        geos.latitude,
        geos.longitude,
        geos.timestamp as post_timestamp,
        cast(extract(year from geos.timestamp) as integer) as post_year,
        users.user_name,
        users.first_name,
        users.last_name,
        users.age,
        -- below 18 or unknown: no age group
        case
            when users.age between 18 and 24 then '18-24'
            when users.age between 25 and 35 then '25-35'
            when users.age between 36 and 50 then '36-50'
            when users.age >= 51 then '+50'
        end as age_group,
        users.date_joined,
        cast(extract(year from users.date_joined) as integer) as join_year,
        {{ build_stamp() }} as _loaded_at
    from pins
    inner join geos on pins.ind = geos.ind
    inner join users on pins.ind = users.ind

)

select * from joined
