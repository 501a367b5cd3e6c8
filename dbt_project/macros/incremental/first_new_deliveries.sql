{#-
    The first delivery of each index a staging model has to add: a select over the bronze
    `relation` with the typed index `cast(<index_field> as bigint) as <key>` added, keeping one row
    per index (keep_first_delivery). In an incremental run only deliveries ingested since the last
    run (ingested_since_last_run) of indexes silver does not hold yet are read.
-#}
{% macro first_new_deliveries(relation, index_field, key) -%}
    select * from (
        select
            bronze.*,
            cast(bronze.{{ index_field }} as bigint) as {{ key }}
        from {{ relation }} as bronze
        {% if is_incremental() -%}
            where
                {{ ingested_since_last_run('bronze._ingested_at', this) }}
                and not exists (
                    select 1 from {{ this }} as already_loaded
                    where already_loaded.ind = cast(bronze.{{ index_field }} as bigint)
                )
    {%- endif %}
    ) as deliveries
    {{ keep_first_delivery(key) }}
{%- endmacro %}
