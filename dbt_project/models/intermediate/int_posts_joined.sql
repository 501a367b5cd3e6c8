with

joined as (

    -- inner joins: a post counts only when its pin, geo and user records have all arrived
    {{ join_posts(ref('stg_pinterest__pins'), ref('stg_pinterest__geos'), ref('stg_pinterest__users')) }}

)

select * from joined
