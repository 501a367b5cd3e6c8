-- Live: records of the streams quarantined in the last hour, by stream and kind of reason.
with

quarantined as (

    select * from {{ ref('stg_pinterest__live_quarantined_records') }}

),

last_hour as (

    select
        _stream,
        reason_kind,
        _arrival_at
    from quarantined
    where {{ arrived_within(60) }}

),

counted as (

    select
        _stream as stream_name,
        reason_kind,
        count(*) as records_last_hour,
        max(_arrival_at) as last_arrival_at
    from last_hour
    group by _stream, reason_kind

)

select * from counted
