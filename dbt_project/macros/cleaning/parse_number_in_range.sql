{#-
    Text -> integer when it is a plain non-negative integer of at most `max_digits` digits within
    [min_value, max_value], else NULL (e.g. age 'abc' or '200' -> NULL). Never an error.
    With `json_type` (the field's JSON type, json_type_of): a JSON number with a fraction or an
    exponent (`f`) is accepted when integral, as parse_integral_number_in_range (age 30.0 -> 30).
-#}
{% macro parse_integer_in_range(expression, min_value, max_value, max_digits=9, json_type=none) -%}
    case
    {%- if json_type is not none %}
        when {{ json_type }} = 'f'
            then {{ parse_integral_number_in_range(expression, min_value, max_value, 'integer') }}
    {%- endif %}
        when {{ regex_full_match(expression, '[0-9]{1,' ~ max_digits ~ '}') }}
            and try_cast({{ expression }} as integer) between {{ min_value }} and {{ max_value }}
            then try_cast({{ expression }} as integer)
    end
{%- endmacro %}

{#-
    The text of a number with a fraction or an exponent (30.0, 3e1, 1e+16) -> its value as `type`
    (an integer type) when that value is integral and within [min_value, max_value], else NULL
    (30.5, 1e400). The pattern decides first which texts are numbers, and only a value within the
    range that equals its floor is cast: the same values on every engine (on Spark floor is a
    bigint, on DuckDB a double; a cast of a double rounds on DuckDB and truncates on Spark, but an
    integral value in range casts alike). Never an error.
-#}
{% macro parse_integral_number_in_range(expression, min_value, max_value, type='bigint') -%}
    {%- set number = 'try_cast(' ~ expression ~ ' as double)' -%}
    case
        when {{ regex_full_match(expression, decimal_number_pattern()) }}
            and {{ number }} between {{ min_value }} and {{ max_value }}
            and {{ number }} = floor({{ number }})
            then try_cast({{ number }} as {{ type }})
    end
{%- endmacro %}

{#-
    Text -> double when it is a decimal number (optionally signed, optional exponent) within
    [min_value, max_value], else NULL (e.g. latitude '95.2', 'nan' or 'north' -> NULL).
-#}
{% macro parse_double_in_range(expression, min_value, max_value) -%}
    case
        when {{ regex_full_match(expression, decimal_number_pattern()) }}
            and try_cast({{ expression }} as double) between {{ min_value }} and {{ max_value }}
            then try_cast({{ expression }} as double)
    end
{%- endmacro %}

{#- A decimal number's text: optional sign, digits with an optional fraction, optional exponent. -#}
{% macro decimal_number_pattern() -%}
    {{- return('[-+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][-+]?[0-9]+)?') -}}
{%- endmacro %}
