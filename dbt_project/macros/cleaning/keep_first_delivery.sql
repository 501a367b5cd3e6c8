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

{#-
    The valid records of a bronze stream table (`relation`) with the typed index `key` added
    (`cast(<index_field> as bigint)`), one per index: the first to arrive (earliest _arrival_at,
    then stream incarnation, shard and sequence number, compared as numbers). Quarantined records
    (`_quarantine_reason` set) are left out.
-#}
{% macro first_stream_deliveries(relation, index_field, key) -%}
    select * from (
        select
            bronze.*,
            cast(bronze.{{ index_field }} as bigint) as {{ key }}
        from {{ relation }} as bronze
        where bronze._quarantine_reason is null
    ) as deliveries
    qualify row_number() over (
        partition by {{ key }}
        order by
            _arrival_at asc nulls last,
            _stream_created_at asc,
            _shard asc,
            length(_sequence_number) asc,
            _sequence_number asc
    ) = 1
{%- endmacro %}

{#- The lineage columns the live staging models carry from a bronze stream table. -#}
{% macro stream_lineage_columns() -%}
    _source,
    _stream,
    _shard,
    _sequence_number,
    _arrival_at,
    _landing_object,
    _ingested_at
{%- endmacro %}
