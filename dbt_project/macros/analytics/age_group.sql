{#-
    Age group of design.md §4: '18-24' (18..24), '25-35', '36-50', '+50' (51 and over).
    Below 18 or NULL: NULL, i.e. no group (a sibling project's "otherwise" bucket swallowed them).
-#}
{% macro age_group(age) -%}
    case
        when {{ age }} between 18 and 24 then '18-24'
        when {{ age }} between 25 and 35 then '25-35'
        when {{ age }} between 36 and 50 then '36-50'
        when {{ age }} >= 51 then '+50'
    end
{%- endmacro %}
