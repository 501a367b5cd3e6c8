{#-
    Incremental aggregates of the joined posts (int_posts_joined, append-only: a post never changes
    once joined, and every row of one load carries the same `_loaded_at`). Each aggregate row
    records in `_posts_loaded_at` the latest load of int_posts_joined its run read, so a run reads
    the posts loaded strictly after the aggregate's latest `_posts_loaded_at` and counts each post
    exactly once. Described in macros/_macros.yml.
-#}

{#-
    False after int_posts_joined alone was rebuilt (every post carries a newer `_loaded_at`): the
    run then recomputes every group from all posts and the merge replaces the groups' rows, instead
    of adding all posts a second time.
-#}
{% macro posts_hold_aggregated_loads() -%}
    {%- set check -%}
        select count(*) as rows_read_before
        from {{ ref('int_posts_joined') }}
        where _loaded_at <= (select max(aggregated._posts_loaded_at) from {{ this }} as aggregated)
    {%- endset -%}
    {{- return(run_query(check).columns[0].values()[0] > 0) -}}
{%- endmacro %}

{#- The posts the running aggregate has not read yet (all of them in a full build). -#}
{% macro posts_to_aggregate(columns, incremental) -%}
    select
        {{ columns | join(',\n        ') }},
        _loaded_at
    from {{ ref('int_posts_joined') }}
    {% if incremental -%}
        where {{ since_last_run('_loaded_at', this, '_posts_loaded_at', inclusive=false) }}
    {%- endif %}
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

{#-
    The body of an aggregate counting posts per group of `columns`: a full build counts every post;
    an incremental run counts the new posts per group and adds the group's count so far (merged by
    `group_key`).
-#}
{% macro posts_counted_by(columns) -%}
    {#- `not execute`: parsing, or sqlfluff's rendering (no database) -#}
    {%- set incremental = is_incremental() and (not execute or posts_hold_aggregated_loads()) -%}
    with

    new_posts as (

        {{ posts_to_aggregate(columns, incremental) }}

    ),

    counted as (

        select
            {{ group_key(columns) }} as group_key,
            {{ columns | join(',\n            ') }},
            count(*) as post_count,
            max(max(_loaded_at)) over () as _posts_loaded_at
        from new_posts
        group by {{ columns | join(', ') }}

    ),

    {#- incremental: a group's count so far (none for a new group) plus its new posts -#}
    added as (

        select
            counted.group_key,
            counted.{{ columns | join(',\n            counted.') }},
            {{ 'coalesce(counted_before.post_count, 0) + ' if incremental }}counted.post_count as post_count,
            counted._posts_loaded_at
        from counted
        {{ 'left join ' ~ this ~ ' as counted_before on counted.group_key = counted_before.group_key'
            if incremental }}

    )

    select * from added
{%- endmacro %}
