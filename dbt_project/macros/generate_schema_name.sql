{#-
    Layer schemas by their plain names (bronze, silver, gold) instead of dbt's default
    "<target schema>_<custom schema>", so analysts query gold.posts on every engine.
    A model without a custom schema lands in the target's schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
