{#-
    NULL when the text `expression` is one of the placeholders of source field `field`
    (see pinterest_placeholders), otherwise the value unchanged.
    Example: null_if_placeholder('title', 'title').
-#}
{% macro null_if_placeholder(expression, field) -%}
    {%- set placeholders = pinterest_placeholders(field) -%}
    {%- set conditions = [] -%}
    {%- if placeholders['exact'] -%}
        {%- set quoted = [] -%}
        {%- for value in placeholders['exact'] -%}
            {%- do quoted.append(dbt.string_literal(value | replace("'", "''"))) -%}
        {%- endfor -%}
        {%- do conditions.append(expression ~ ' in (' ~ quoted | join(', ') ~ ')') -%}
    {%- endif -%}
    {%- for prefix in placeholders['prefixes'] -%}
        {%- do conditions.append(
            'substring(' ~ expression ~ ', 1, ' ~ prefix | length ~ ') = '
            ~ dbt.string_literal(prefix | replace("'", "''"))
        ) -%}
    {%- endfor -%}
    {%- if conditions -%}
        case when {{ conditions | join(' or ') }} then null else {{ expression }} end
    {%- else -%}
        {{ expression }}
    {%- endif -%}
{%- endmacro %}
