{{ config(materialized='view') }}

with

stream_pin as (

    select
        {{ stream_lineage_columns() }},
        _quarantine_reason,
        _raw_bytes
    from {{ source('pinterest', 'stream_pin') }}
    where _quarantine_reason is not null

),

stream_geo as (

    select
        {{ stream_lineage_columns() }},
        _quarantine_reason,
        _raw_bytes
    from {{ source('pinterest', 'stream_geo') }}
    where _quarantine_reason is not null

),

stream_user as (

    select
        {{ stream_lineage_columns() }},
        _quarantine_reason,
        _raw_bytes
    from {{ source('pinterest', 'stream_user') }}
    where _quarantine_reason is not null

),

quarantined as (

    select * from stream_pin
    union all
    select * from stream_geo
    union all
    select * from stream_user

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
