with

pins as (

    select * from {{ ref('stg_pinterest__pins') }}

),

geos as (

    select * from {{ ref('stg_pinterest__geos') }}

),

users as (

    select * from {{ ref('stg_pinterest__users') }}

),

joined as (

    -- inner joins: a post counts only when its pin, geo and user records have all arrived
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
        {{ year_of('geos.timestamp') }} as post_year,
        users.user_name,
        users.first_name,
        users.last_name,
        users.age,
        {{ age_group('users.age') }} as age_group,
        users.date_joined,
        {{ year_of('users.date_joined') }} as join_year
    from pins
    inner join geos on pins.ind = geos.ind
    inner join users on pins.ind = users.ind

)

select * from joined
