{#-
    user_name = first_name || ' ' || last_name, with one space (a sibling project forgot it).
    NULL when either part is NULL.
-#}
{% macro full_name(first_name, last_name) -%}
    ({{ first_name }} || ' ' || {{ last_name }})
{%- endmacro %}
