{#-
    An aggregate of gold.posts that counts posts per group (`count_column`) holds every post exactly
    once: its counts add up to the number of posts. Fails with one row (the two totals) when a
    post was counted twice or missed, e.g. after gold.posts alone was rebuilt by hand.
-#}
{% test counts_add_up_to_posts(model, count_column) %}

with

counted as (

    select coalesce(sum({{ count_column }}), 0) as counted_posts
    from {{ model }}

),

posts as (

    select count(*) as posts
    from {{ ref('posts') }}

)

select
    counted.counted_posts,
    posts.posts
from counted
cross join posts
where counted.counted_posts <> posts.posts

{% endtest %}
