{#-
    Helpers of the incremental aggregates of the joined posts (models/intermediate/aggregates),
    described in macros/_macros.yml. The aggregates' SQL is in the models.
-#}

{#-
    Whether int_posts_joined holds a post loaded no later than the running aggregate's watermark
    (its latest `_posts_loaded_at`): true on a routine incremental run. False after int_posts_joined
    alone was rebuilt (every post then carries a newer `_loaded_at`, so every post looks new) and on
    an empty aggregate: the counting aggregates then count every group again from all posts, and
    the merge replaces the groups' rows, instead of adding every post a second time. Asked of the
    warehouse when the model runs (run_query), as the choice changes the SQL; true when not
    executing (parsing, or sqlfluff's rendering, which has no warehouse).
-#}
{% macro posts_hold_aggregated_loads() -%}
    {%- if not execute -%}
        {{- return(true) -}}
    {%- endif -%}
    {%- set check -%}
        select count(*) as rows_read_before
        from {{ ref('int_posts_joined') }}
        where _loaded_at <= (select max(aggregated._posts_loaded_at) from {{ this }} as aggregated)
    {%- endset -%}
    {{- return(run_query(check).columns[0].values()[0] > 0) -}}
{%- endmacro %}

{#-
    A non-NULL key for a group of possibly NULL `columns` (merge keys compare with `=`, which never
    matches NULL): each value's length, a colon and the value, or `-` for NULL, joined by `|`;
    unambiguous whatever the values hold.
-#}
{% macro group_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- set text = 'cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')' -%}
        {%- do parts.append(
            "coalesce(cast(length(" ~ text ~ ") as " ~ dbt.type_string() ~ ") || ':' || " ~ text ~ ", '-')"
        ) -%}
    {%- endfor -%}
    {{ parts | join(" || '|' || ") }}
{%- endmacro %}
