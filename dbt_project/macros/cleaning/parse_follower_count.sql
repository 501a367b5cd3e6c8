{#-
    follower_count text -> bigint (reference/source-data.md §4): plain digits as they are ('0' is 0),
    digits followed by a lower-case 'k' times 1,000, by an upper-case 'M' times 1,000,000.
    Anything else ('User Info Error', '1.5k', '-3', 'abc', '') is NULL, never an error; the digit
    counts are bounded so that the multiplication cannot overflow a bigint.
-#}
{% macro parse_follower_count(expression) -%}
    case
        when {{ regex_full_match(expression, '[0-9]{1,15}') }}
            then try_cast({{ expression }} as bigint)
        when {{ regex_full_match(expression, '[0-9]{1,12}k') }}
            then try_cast(substring({{ expression }}, 1, length({{ expression }}) - 1) as bigint) * 1000
        when {{ regex_full_match(expression, '[0-9]{1,9}M') }}
            then try_cast(substring({{ expression }}, 1, length({{ expression }}) - 1) as bigint) * 1000000
    end
{%- endmacro %}
