-- The semantic layer's time spine: one row per day from the earliest plausible timestamp
-- (var pinpipe_earliest_timestamp, 2009-01-01) for 10,000 days (to 2036-05-18), which covers every
-- post_timestamp and date_joined silver keeps. Portable SQL: ten digits cross-joined, no
-- engine-specific series function.
with

digits as (

    select digits.digit
    from (values (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) as digits (digit)

),

day_offsets as (

    select
        units.digit
        + 10 * tens.digit
        + 100 * hundreds.digit
        + 1000 * thousands.digit as day_offset
    from digits as units
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands

),

days as (

    select
        cast(
            {{ dbt.dateadd(
                'day',
                'day_offset',
                "cast('" ~ var('pinpipe_earliest_timestamp')[:10] ~ "' as date)",
            ) }} as date
        ) as date_day
    from day_offsets

)

select date_day
from days
