{{ config(materialized='view') }}

-- The records the stream ingestion quarantined, of the three stream tables alike (the same columns,
-- the same rule): one union, `entity` telling which stream table a row comes from.
{%- set entities = ['pin', 'geo', 'user'] %}

with

quarantined as (

    {% for entity in entities -%}
        select
            '{{ entity }}' as entity,
            {{ stream_lineage_columns() }},
            _quarantine_reason,
            _raw_bytes
        from {{ source('pinterest', 'stream_' ~ entity) }}
        where _quarantine_reason is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

renamed as (

    select
        entity,
        _source,
        _stream,
        _shard,
        _sequence_number,
        _arrival_at,
        _landing_object,
        _ingested_at,
        _quarantine_reason as reason,
        split_part(_quarantine_reason, ':', 1) as reason_kind,
        octet_length(_raw_bytes) as raw_size_bytes
    from quarantined

)

select * from renamed
