{#-
    save_location without its 'Local save in ' prefix (with the trailing space), e.g.
    'Local save in /data/travel' -> '/data/travel'. A value without the prefix is kept as it is.
-#}
{% macro strip_save_location_prefix(expression, prefix='Local save in ') -%}
    case
        when substring({{ expression }}, 1, {{ prefix | length }}) = {{ sql_string_literal(prefix) }}
            then substring({{ expression }}, {{ (prefix | length) + 1 }})
        else {{ expression }}
    end
{%- endmacro %}
