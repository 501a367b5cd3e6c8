{{ config(materialized='view') }}

with

quarantined as (

    select * from {{ source('pinterest', 'stream_geo') }}
    where _quarantine_reason is not null

),

renamed as (

    select
        {{ stream_lineage_columns() }},
        _quarantine_reason as reason,
        split_part(_quarantine_reason, ':', 1) as reason_kind,
        octet_length(_raw_bytes) as raw_size_bytes
    from quarantined

)

select * from renamed
