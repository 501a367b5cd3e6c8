{{ config(materialized='view') }}

with

first_deliveries as (

    {{ first_stream_deliveries(source('pinterest', 'stream_geo'), 'ind', 'index_value') }}

),

parsed as (

    select
        {{ geo_parsed_columns() }},
        {{ stream_lineage_columns() }}
    from first_deliveries

),

cleaned as (

    select
        -- the same cleaning as stg_pinterest__geos (one macro per rule, one list of columns)
        {{ geo_cleaned_columns() }},

        -- lineage
        {{ stream_lineage_columns() }}

    from parsed

)

select * from cleaned
