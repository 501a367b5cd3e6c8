{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='group_key',
        on_schema_change='fail',
    )
}}

-- Posts per country, post year, age group and category: the counts behind Q1, Q2 and Q4, added up
-- run by run. A routine incremental run counts the posts loaded into int_posts_joined after the
-- table's latest `_posts_loaded_at` and adds them to their groups' counts (merge on group_key).
-- After int_posts_joined alone was rebuilt every post looks new, so posts_hold_aggregated_loads()
-- (a query when the model runs) is false: the run counts every group again from all posts and the
-- merge replaces the groups' rows, as a full build would, instead of adding every post twice.
{%- set add_to_counts = is_incremental() and posts_hold_aggregated_loads() %}

with

new_posts as (

    select
        country,
        post_year,
        age_group,
        category,
        _loaded_at
    from {{ ref('int_posts_joined') }}
    {% if add_to_counts -%}
        where {{ since_last_run('_loaded_at', this, '_posts_loaded_at', inclusive=false) }}
    {%- endif %}

),

counted as (

    select
        {{ group_key(['country', 'post_year', 'age_group', 'category']) }} as group_key,
        country,
        post_year,
        age_group,
        category,
        count(*) as post_count,
        max(max(_loaded_at)) over () as _posts_loaded_at
    from new_posts
    group by country, post_year, age_group, category

),

-- adding up: a group's count so far (none for a new group) plus its new posts
added as (

    select
        counted.group_key,
        counted.country,
        counted.post_year,
        counted.age_group,
        counted.category,
        {% if add_to_counts -%}
            coalesce(counted_before.post_count, 0) + counted.post_count as post_count,
        {%- else -%}
            counted.post_count,
        {%- endif %}
        counted._posts_loaded_at
    from counted
    {% if add_to_counts -%}
        left join {{ this }} as counted_before on counted.group_key = counted_before.group_key
    {%- endif %}

)

select * from added
