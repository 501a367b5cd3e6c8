{#- An array literal of the given SQL expressions, in order: [a, b] on DuckDB, array(a, b) on Spark. -#}
{% macro array_of(expressions) -%}
    {{ return(adapter.dispatch('array_of', 'pinpipe')(expressions)) }}
{%- endmacro %}

{% macro default__array_of(expressions) -%}
    [{{ expressions | join(', ') }}]
{%- endmacro %}

{% macro spark__array_of(expressions) -%}
    array({{ expressions | join(', ') }})
{%- endmacro %}
