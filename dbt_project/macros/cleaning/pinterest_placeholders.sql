{#-
    The placeholder strings of the source (listed in docs/data-contract.md): a value equal to one of
    `exact`, or starting with one of `prefixes`, means "missing" and is cleaned to NULL.
    Keyed by source field name; fields without placeholders map to nothing.
-#}
{% macro pinterest_placeholders(field) -%}
    {%- set placeholders = {
        'title': {'exact': ['No Title Data Available'], 'prefixes': []},
        'description': {'exact': [], 'prefixes': ['No description available']},
        'poster_name': {'exact': ['User Info Error'], 'prefixes': []},
        'follower_count': {'exact': ['User Info Error'], 'prefixes': []},
        'tag_list': {'exact': ['N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e'], 'prefixes': []},
        'image_src': {'exact': ['Image src error.'], 'prefixes': []},
    } -%}
    {{- return(placeholders.get(field, {'exact': [], 'prefixes': []})) -}}
{%- endmacro %}
