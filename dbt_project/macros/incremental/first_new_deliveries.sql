{#-
    The first delivery of each index a batch staging model has to add (described in
    macros/_macros.yml). One row per index: the earliest _ingested_at, then the lowest (_topic,
    _topic_id, _partition, _offset). An incremental run reads only the deliveries ingested since the latest
    _ingested_at in silver less `pinpipe_incremental_lookback_hours` (a safety margin), of indexes
    silver does not hold yet. The index is typed with try_cast (bronze accepts only indexes that
    cast, this is belt and braces); a row whose index is negative or does not cast is left out.

    An incremental run first reads, from two narrow columns (the index and `_ingested_at`), the
    earliest `_ingested_at` of those deliveries, and writes it into the SQL as a constant: the wide
    read (every column of the deliveries) then skips, by their statistics, the bronze files of the
    look-back that hold only indexes silver already has. The rows selected are the same.
-#}
{% macro first_new_deliveries(relation, index_field, key) -%}
    select * from (
        select
            bronze.*,
            try_cast(bronze.{{ index_field }} as bigint) as {{ key }}
        from {{ relation }} as bronze
        {% if is_incremental() -%}
            {%- set new_deliveries -%}
                {{ since_last_run(
                    'bronze._ingested_at', this, '_ingested_at', var('pinpipe_incremental_lookback_hours', 3)
                ) }}
                and not exists (
                    select 1 from {{ this }} as already_loaded
                    where already_loaded.ind = try_cast(bronze.{{ index_field }} as bigint)
                )
            {%- endset %}
            where
                {{ earliest_new_delivery(relation, new_deliveries) }}
                and {{ new_deliveries }}
    {%- endif %}
    ) as deliveries
    -- a post's index is a non-negative bigint: any other is not a post (counted as lost, column `ind`,
    -- by the no_values_lost_in_cleaning warnings)
    where {{ key }} >= 0
    qualify row_number() over (
        partition by {{ key }}
        order by _ingested_at asc nulls last, _topic asc, _topic_id asc nulls first, _partition asc, _offset asc
    ) = 1
{%- endmacro %}

{#-
    `bronze._ingested_at >= <the earliest _ingested_at of the bronze rows meeting new_deliveries>`
    (a constant read when the model runs), `false` when no row meets it; `true` at parse time.
-#}
{% macro earliest_new_delivery(relation, new_deliveries) -%}
    {%- set earliest = none -%}
    {%- if execute -%}
        {%- set earliest_query -%}
            select cast(min(bronze._ingested_at) as {{ dbt.type_string() }}) as earliest
            from {{ relation }} as bronze
            where {{ new_deliveries }}
        {%- endset -%}
        {%- set earliest = run_query(earliest_query).columns[0].values()[0] -%}
    {%- endif -%}
    {%- if not execute -%}
        true
    {%- elif earliest is none -%}
        false
    {%- else -%}
        bronze._ingested_at >= {{ timestamp_tz_literal(earliest) }}
    {%- endif -%}
{%- endmacro %}
