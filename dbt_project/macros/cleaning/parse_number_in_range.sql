{#-
    Text -> integer when it is a plain non-negative integer of at most `max_digits` digits within
    [min_value, max_value], else NULL (e.g. age 'abc' or '200' -> NULL). Never an error.
-#}
{% macro parse_integer_in_range(expression, min_value, max_value, max_digits=9) -%}
    case
        when {{ regex_full_match(expression, '[0-9]{1,' ~ max_digits ~ '}') }}
            and try_cast({{ expression }} as integer) between {{ min_value }} and {{ max_value }}
            then try_cast({{ expression }} as integer)
    end
{%- endmacro %}

{#-
    Text -> double when it is a decimal number (optionally signed, optional exponent) within
    [min_value, max_value], else NULL (e.g. latitude '95.2', 'nan' or 'north' -> NULL).
-#}
{% macro parse_double_in_range(expression, min_value, max_value) -%}
    case
        when {{ regex_full_match(expression, '[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?') }}
            and try_cast({{ expression }} as double) between {{ min_value }} and {{ max_value }}
            then try_cast({{ expression }} as double)
    end
{%- endmacro %}
