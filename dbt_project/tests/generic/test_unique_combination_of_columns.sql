{#- The combination of `combination_of_columns` is unique in the model (one row per declared grain). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

grain as (

    select
        {{ combination_of_columns | join(',\n        ') }},
        count(*) as row_count
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}

)

select * from grain
where row_count > 1

{% endtest %}
