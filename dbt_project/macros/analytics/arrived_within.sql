{#-
    The live marts' window: a stream record that Kinesis accepted (`_arrival_at`) within the last
    `minutes` minutes of the query's time. The live models are views, so "now" is when they are read.
-#}
{% macro arrived_within(minutes) -%}
    _arrival_at >= {{ dbt.dateadd('minute', -1 * minutes, dbt.current_timestamp()) }}
{%- endmacro %}
