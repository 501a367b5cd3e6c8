-- Operations: what the bronze loader refused, by transport, topic and kind of reason.
with

quarantined as (

    select * from {{ ref('stg_pinterest__quarantined_records') }}

),

summary as (

    select
        _source as transport,
        _topic as topic,
        reason_kind,
        count(*) as quarantined_records,
        min(_ingested_at) as first_ingested_at,
        max(_ingested_at) as last_ingested_at
    from quarantined
    group by _source, _topic, reason_kind

)

select * from summary
