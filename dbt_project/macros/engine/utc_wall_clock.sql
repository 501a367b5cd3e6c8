{#-
    A timestamp WITH time zone (an instant, e.g. `_ingested_at`) as a timestamp WITHOUT time zone
    holding its UTC wall-clock time: the type of the cleaned timestamps, so the two compare.
-#}
{% macro utc_wall_clock(expression) -%}
    {{ return(adapter.dispatch('utc_wall_clock', 'pinpipe')(expression)) }}
{%- endmacro %}

{% macro default__utc_wall_clock(expression) -%}
    timezone('UTC', {{ expression }})
{%- endmacro %}

{% macro spark__utc_wall_clock(expression) -%}
    try_cast(to_utc_timestamp({{ expression }}, current_timezone()) as timestamp_ntz)
{%- endmacro %}

{#- A constant timestamp WITHOUT time zone from its text ('2009-01-01 00:00:00'). -#}
{% macro timestamp_ntz_literal(text) -%}
    {{ return(adapter.dispatch('timestamp_ntz_literal', 'pinpipe')(text)) }}
{%- endmacro %}

{% macro default__timestamp_ntz_literal(text) -%}
    cast('{{ text }}' as timestamp)
{%- endmacro %}

{% macro spark__timestamp_ntz_literal(text) -%}
    cast('{{ text }}' as timestamp_ntz)
{%- endmacro %}
