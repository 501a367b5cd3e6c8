{#-
    The text `expression` when it is one of `values` (a list, e.g. var('pinpipe_categories')),
    else NULL: an unknown category or media type does not reach silver as a value.
-#}
{% macro null_if_not_in(expression, values) -%}
    {%- set quoted = [] -%}
    {%- for value in values -%}
        {%- do quoted.append(dbt.string_literal(value | replace("'", "''"))) -%}
    {%- endfor -%}
    case when {{ expression }} in ({{ quoted | join(', ') }}) then {{ expression }} end
{%- endmacro %}
