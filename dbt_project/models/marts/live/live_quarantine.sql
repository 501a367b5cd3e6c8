-- Live: records of the streams quarantined in the last hour, by stream and kind of reason.
with

quarantined as (

    select * from {{ ref('stg_pinterest__live_quarantined') }}

),

last_hour as (

    select
        _stream,
        reason_kind,
        _arrival_at
    from quarantined
    where _arrival_at >= {{ dbt.dateadd('minute', -60, dbt.current_timestamp()) }}

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
