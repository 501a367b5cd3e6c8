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

{#- The element at 1-based `position` of an array, NULL past its end: a[i] on DuckDB, element_at on Spark. -#}
{% macro array_element(array, position) -%}
    {{ return(adapter.dispatch('array_element', 'pinpipe')(array, position)) }}
{%- endmacro %}

{% macro default__array_element(array, position) -%}
    {{ array }}[{{ position }}]
{%- endmacro %}

{% macro spark__array_element(array, position) -%}
    element_at({{ array }}, {{ position }})
{%- endmacro %}
