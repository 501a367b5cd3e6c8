{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='group_key',
        on_schema_change='fail',
    )
}}

-- Posts per age group, join year and follower count: the tallies the lower medians of Q5, Q7 and
-- Q8 are read from (macros/analytics/lower_median.sql), added up run by run as int_posts_counted's
-- counts are: a routine run adds the posts loaded after the table's latest `_posts_loaded_at` to
-- their groups' counts; a run after int_posts_joined alone was rebuilt counts every group again.
{%- set add_to_counts = is_incremental() and posts_hold_aggregated_loads() %}

with

new_posts as (

    select
        age_group,
        join_year,
        follower_count,
        _loaded_at
    from {{ ref('int_posts_joined') }}
    {% if add_to_counts -%}
        where {{ since_last_run('_loaded_at', this, '_posts_loaded_at', inclusive=false) }}
    {%- endif %}

),

counted as (

    select
        {{ group_key(['age_group', 'join_year', 'follower_count']) }} as group_key,
        age_group,
        join_year,
        follower_count,
        count(*) as post_count,
        max(max(_loaded_at)) over () as _posts_loaded_at
    from new_posts
    group by age_group, join_year, follower_count

),

-- adding up: a group's count so far (none for a new group) plus its new posts
added as (

    select
        counted.group_key,
        counted.age_group,
        counted.join_year,
        counted.follower_count,
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
