{#-
    An aggregate of the joined posts (int_posts_joined) that counts posts per group (`count_column`)
    holds every post exactly once: its counts add up to the number of posts. Fails with one row (the
    two totals) when a post was counted twice or missed.
-#}
{% test counts_add_up_to_posts(model, count_column) %}

with

counted as (

    select coalesce(sum({{ count_column }}), 0) as counted_posts
    from {{ model }}

),

posts as (

    select count(*) as posts
    from {{ ref('int_posts_joined') }}

)

select
    counted.counted_posts,
    posts.posts
from counted
cross join posts
where counted.counted_posts <> posts.posts

{% endtest %}
