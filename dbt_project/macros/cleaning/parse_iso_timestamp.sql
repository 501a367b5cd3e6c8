{#-
    ISO-8601 text -> timestamp WITHOUT time zone holding UTC wall-clock time.

    The source database stores naive datetimes and the original AWS/Databricks pipeline this project
    re-implements (see docs/data-contract.md) displayed them as UTC
    ('2020-08-28T03:52:47' was shown as 2020-08-28T03:52:47.000+0000), so a value without an offset
    is taken as UTC as it is; a value with an offset ('Z', '+02:00', '+0200') is converted to UTC.
    Date-only values are midnight. Anything that does not parse (bad format, month 13, ...) is NULL,
    never an error.
-#}
{% macro parse_iso_timestamp(expression) -%}
    {{ return(adapter.dispatch('parse_iso_timestamp', 'pinpipe')(expression)) }}
{%- endmacro %}

{% macro default__parse_iso_timestamp(expression) -%}
    {%- set date_time = '[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?)?' -%}
    case
        when {{ regex_full_match(expression, date_time) }}
            then try_cast({{ expression }} as timestamp)
        when {{ regex_full_match(expression, date_time ~ '(Z|[+-][0-9]{2}(:?[0-9]{2})?)') }}
            then timezone('UTC', try_cast({{ expression }} as timestamptz))
    end
{%- endmacro %}

{% macro spark__parse_iso_timestamp(expression) -%}
    {%- set date_time = '[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,9})?)?)?' -%}
    case
        when {{ regex_full_match(expression, date_time) }}
            then try_cast({{ expression }} as timestamp_ntz)
        when {{ regex_full_match(expression, date_time ~ '(Z|[+-][0-9]{2}(:?[0-9]{2})?)') }}
            then try_cast(to_utc_timestamp(try_cast({{ expression }} as timestamp), current_timezone()) as timestamp_ntz)
    end
{%- endmacro %}
