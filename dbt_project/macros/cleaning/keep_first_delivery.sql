{#-
    The QUALIFY clause that keeps one delivery per `key`: the first one, i.e. the earliest
    _ingested_at, then the lowest (_topic, _partition, _offset). Bronze holds every delivery (the
    emulator re-sends rows), silver one row per index.
-#}
{% macro keep_first_delivery(key) -%}
    qualify row_number() over (
        partition by {{ key }}
        order by _ingested_at asc nulls last, _topic asc, _partition asc, _offset asc
    ) = 1
{%- endmacro %}
