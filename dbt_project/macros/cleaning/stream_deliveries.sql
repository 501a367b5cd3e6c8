{#-
    The live staging models' reading of a bronze stream table (described in macros/_macros.yml).
-#}

{#-
    The valid records of a bronze stream table (`relation`) with the typed index `key` added
    (`try_cast(<index_field> as bigint)`; a row whose index is negative or does not cast is left
    out: it is not a post), one per index: the first to arrive (earliest _arrival_at,
    then stream incarnation, shard and sequence number, compared as numbers). Quarantined records
    (`_quarantine_reason` set) are left out.
-#}
{% macro first_stream_deliveries(relation, index_field, key) -%}
    select * from (
        select
            bronze.*,
            try_cast(bronze.{{ index_field }} as bigint) as {{ key }}
        from {{ relation }} as bronze
        where bronze._quarantine_reason is null
    ) as deliveries
    where {{ key }} >= 0
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
