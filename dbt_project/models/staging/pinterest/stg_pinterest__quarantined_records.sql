{{ config(materialized='table') }}

with

quarantine as (

    select * from {{ source('pinterest', 'quarantine') }}

),

renamed as (

    select
        _source,
        _topic,
        _topic_id,
        _partition,
        _offset,
        _landing_object,
        _ingested_at,
        {{ build_stamp() }} as _loaded_at,
        reason,
        split_part(reason, ':', 1) as reason_kind,
        octet_length(raw_bytes) as raw_size_bytes,
        md5(raw_bytes) as raw_md5
    from quarantine

)

select * from renamed
