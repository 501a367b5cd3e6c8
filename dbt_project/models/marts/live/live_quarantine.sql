-- Live: records of the streams quarantined in the last hour, by stream and kind of reason.
with

quarantined_pins as (

    select * from {{ ref('stg_pinterest__live_quarantined_pins') }}

),

quarantined_geos as (

    select * from {{ ref('stg_pinterest__live_quarantined_geos') }}

),

quarantined_users as (

    select * from {{ ref('stg_pinterest__live_quarantined_users') }}

),

last_hour as (

    select
        _stream,
        reason_kind,
        _arrival_at
    from quarantined_pins
    where _arrival_at >= {{ dbt.dateadd('minute', -60, dbt.current_timestamp()) }}

    union all

    select
        _stream,
        reason_kind,
        _arrival_at
    from quarantined_geos
    where _arrival_at >= {{ dbt.dateadd('minute', -60, dbt.current_timestamp()) }}

    union all

    select
        _stream,
        reason_kind,
        _arrival_at
    from quarantined_users
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
