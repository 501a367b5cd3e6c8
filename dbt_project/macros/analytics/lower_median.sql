{#-
    The lower median of design.md §4: the value at position ceil(n/2) of the ascending non-NULL
    values (what the original's percentile_approx(x, 0.5) returned). An aggregate.
-#}
{% macro lower_median(expression) -%}
    percentile_disc(0.5) within group (order by {{ expression }})
{%- endmacro %}
