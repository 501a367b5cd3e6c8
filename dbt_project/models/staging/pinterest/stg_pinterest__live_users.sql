{{ config(materialized='view') }}

with

first_deliveries as (

    {{ first_stream_deliveries(source('pinterest', 'stream_user'), 'ind', 'index_value') }}

),

cleaned as (

    select
        -- the same cleaning as stg_pinterest__users (one macro per rule, one list of columns)
        {{ user_cleaned_columns() }},

        -- lineage
        {{ stream_lineage_columns() }}

    from first_deliveries

)

select * from cleaned
