{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='group_key',
        on_schema_change='fail',
    )
}}

-- Posts per country, post year, age group and category: the counts behind Q1, Q2 and Q4, added
-- up run by run (macros/incremental/posts_aggregates.sql).
{{ posts_counted_by(['country', 'post_year', 'age_group', 'category']) }}
