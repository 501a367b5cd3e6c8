-- No placeholder string of the source (docs/data-contract.md) survives into silver (written out here on
-- purpose, independently of the pinterest_placeholders macro that the models use). Like the other
-- row-by-row tests: the latest load (every row with `pinpipe_test_all_rows`).
with

pins as (

    select * from {{ ref('stg_pinterest__pins') }}
    where {{ latest_load_only(ref('stg_pinterest__pins')) }}

),

survivors as (

    select
        ind,
        'title' as field
    from pins
    where title = 'No Title Data Available'

    union all

    select
        ind,
        'description' as field
    from pins
    where description like 'No description available%'

    union all

    select
        ind,
        'poster_name' as field
    from pins
    where poster_name = 'User Info Error'

    union all

    select
        ind,
        'tag_list' as field
    from pins
    where tag_list = 'N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e'

    union all

    select
        ind,
        'image_src' as field
    from pins
    where image_src = 'Image src error.'

    union all

    select
        ind,
        'save_location' as field
    from pins
    where save_location like 'Local save in%'

)

select * from survivors
