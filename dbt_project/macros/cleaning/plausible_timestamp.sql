{#-
    The parsed timestamp `expression` (without time zone, UTC) when it is plausible, else NULL:
    not before var('pinpipe_earliest_timestamp') (Pinterest did not exist before) and not after
    `received_at`, the instant the row reached bronze (`_ingested_at`): nothing can have happened
    after it was reported. Deterministic per row, unlike a comparison with the current time.
-#}
{% macro plausible_timestamp(expression, received_at='_ingested_at') -%}
    case
        when {{ expression }} between {{ timestamp_ntz_literal(var('pinpipe_earliest_timestamp')) }}
            and {{ utc_wall_clock(received_at) }}
            then {{ expression }}
    end
{%- endmacro %}
