{{ config(materialized='view') }}

with

first_deliveries as (

    {{ first_stream_deliveries(source('pinterest', 'stream_pin'), 'index', 'index_value') }}

),

cleaned as (

    select
        -- the same cleaning as stg_pinterest__pins (one macro per rule, one list of columns)
        {{ pin_cleaned_columns() }},

        -- lineage
        {{ stream_lineage_columns() }}

    from first_deliveries

)

select * from cleaned
