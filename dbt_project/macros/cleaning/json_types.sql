{#-
    The JSON types of the source fields (docs/data-contract.md, "Accepted JSON types").

    Bronze keeps every source field as text, which cannot tell the string "30" from the number 30,
    nor an object from a string holding braces. Its column `_json_types` holds one character per
    source field, in source order, naming the JSON type the field was delivered as: `s` string,
    `i` integer, `f` any other number, `b` boolean, `o` object, `a` array, `n` null or absent.
    Rows loaded before that column existed have it NULL: their types are unknown, and the text rules
    alone apply to them, as before.
-#}

{#- Each entity's source fields in source order: SOURCE_FIELDS of ingestion/settings/__init__.py. -#}
{% macro pinterest_source_fields() -%}
    {{- return({
        'pin': [
            'index', 'unique_id', 'title', 'description', 'poster_name', 'follower_count', 'tag_list',
            'is_image_or_video', 'image_src', 'downloaded', 'save_location', 'category',
        ],
        'geo': ['ind', 'timestamp', 'latitude', 'longitude', 'country'],
        'user': ['ind', 'first_name', 'last_name', 'age', 'date_joined'],
    }) -}}
{%- endmacro %}

{#-
    The JSON types the data contract accepts for source field `field` (codes of `_json_types`):
    a JSON string for every text field; for the numeric fields also a JSON number (the integer
    fields take a number with a fraction or exponent only when it is integral: parse_integer_in_range,
    pin_cleaned_columns). Booleans, objects and arrays never.
-#}
{% macro pinterest_accepted_json_types(field) -%}
    {%- set number = ['s', 'i', 'f'] -%}
    {%- set accepted = {
        'index': ['s', 'i'],
        'ind': ['s', 'i'],
        'follower_count': number,
        'downloaded': number,
        'age': number,
        'latitude': number,
        'longitude': number,
    } -%}
    {{- return(accepted.get(field, ['s'])) -}}
{%- endmacro %}

{#-
    The JSON type source field `field` was delivered as: its character of `_json_types`, at the
    field's position in its entity's source fields (the same in every entity that has it); NULL when
    unknown (`_json_types` NULL, on rows loaded before it existed).
-#}
{% macro json_type_of(field) -%}
    {%- set positions = [] -%}
    {%- for fields in pinterest_source_fields().values() -%}
        {%- for name in fields -%}
            {%- if name == field and loop.index not in positions -%}
                {%- do positions.append(loop.index) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if positions | length != 1 -%}
        {{- exceptions.raise_compiler_error(
            'json_type_of: ' ~ field ~ ' is not a source field (or not at one position in every entity)'
        ) -}}
    {%- endif -%}
    nullif(substring(_json_types, {{ positions[0] }}, 1), '')
{%- endmacro %}

{#-
    `expression` (default: the field itself), a cleaning of source field `field`, when the field was
    delivered as a JSON type the data contract accepts for it (pinterest_accepted_json_types) or its
    type is unknown; NULL otherwise: the JSON text of an object, an array, a boolean or a number
    never passes for a text value.
-#}
{% macro when_accepted_json_type(field, expression=none) -%}
    {%- set quoted = [] -%}
    {%- for code in pinterest_accepted_json_types(field) -%}
        {%- do quoted.append("'" ~ code ~ "'") -%}
    {%- endfor -%}
    case
        when coalesce({{ json_type_of(field) }} in ({{ quoted | join(', ') }}), true)
            then {{ field if expression is none else expression }}
    end
{%- endmacro %}
