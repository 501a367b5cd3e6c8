{#-
    The lower median of docs/data-contract.md (what the original pipeline's percentile_approx(x, 0.5)
    returned): the value at position ceil(n/2) of the ascending non-NULL values, duplicates counted.
    Computed from
    tallies, one row per (group, value) with the number of posts holding it: per group of
    `group_columns`, the smallest value whose running count reaches half of the group's count
    (2 * running >= n, i.e. running >= ceil(n/2)). `tallies` is a relation or CTE name with
    `group_columns`, `value` and `count` columns and no NULL value. A select statement.
-#}
{% macro lower_median_of_tallies(tallies, group_columns, value, count, median) -%}
    {%- set groups = group_columns | join(', ') -%}
    select
        {{ groups }},
        min({{ value }}) as {{ median }}
    from (
        select
            {{ groups }},
            {{ value }},
            sum({{ count }}) over (
                partition by {{ groups }}
                order by {{ value }}
                rows between unbounded preceding and current row
            ) as running_count,
            sum({{ count }}) over (partition by {{ groups }}) as group_count
        from {{ tallies }}
    ) as cumulative
    where 2 * running_count >= group_count
    group by {{ groups }}
{%- endmacro %}
