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
        -- the original pipeline's columns, in its order, then downloaded
        {{ pin_cleaned_columns() }},

        -- lineage
        _source,
        _topic,
        _partition,
        _offset,
        _landing_object,
        _ingested_at,
        {{ build_stamp() }} as _loaded_at

    from first_deliveries

)

select * from cleaned
