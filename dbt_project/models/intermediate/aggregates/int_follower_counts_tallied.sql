{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='group_key',
        on_schema_change='fail',
    )
}}

-- Posts per age group, join year and follower count: the tallies the lower medians of Q5, Q7 and
-- Q8 are read from, added up run by run (macros/incremental/posts_aggregates.sql).
{{ posts_counted_by(['age_group', 'join_year', 'follower_count']) }}
