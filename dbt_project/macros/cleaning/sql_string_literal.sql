{#- A single-quoted SQL string literal of a Python/Jinja string (quotes doubled). -#}
{% macro sql_string_literal(value) -%}
    '{{ value | replace("'", "''") }}'
{%- endmacro %}
