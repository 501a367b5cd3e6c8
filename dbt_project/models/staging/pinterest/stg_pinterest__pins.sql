{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
    )
}}

with

first_deliveries as (

    {{ first_new_deliveries(source('pinterest', 'pin'), 'index', 'index_value') }}

),

cleaned as (

    select
        -- the original's columns, in its order (reference/source-data.md §4), then downloaded
        {{ pin_cleaned_columns() }},

        -- lineage
        _source,
        _topic,
        _partition,
        _offset,
        _landing_object,
        _ingested_at,
        {{ loaded_at() }} as _loaded_at

    from first_deliveries

)

select * from cleaned
