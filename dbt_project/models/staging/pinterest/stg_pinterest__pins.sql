{#- append_new_columns: a release that adds a lineage column adds it to the existing table
    (its earlier rows hold null) -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
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
        _topic_id,
        _partition,
        _offset,
        _landing_object,
        _ingested_at,
        {{ build_stamp() }} as _loaded_at

    from first_deliveries

)

select * from cleaned
