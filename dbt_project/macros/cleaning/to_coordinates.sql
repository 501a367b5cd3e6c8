{#-
    coordinates = array [latitude, longitude] of doubles, in that order (reference/source-data.md §4;
    a sibling project's struct or swapped order was a bug). NULL when either part is NULL (missing or
    out of range), so an array never holds a half-known position.
-#}
{% macro to_coordinates(latitude, longitude) -%}
    case
        when {{ latitude }} is not null and {{ longitude }} is not null
            then {{ array_of([latitude, longitude]) }}
    end
{%- endmacro %}
