{#-
    Bad-input detector (use with severity: warn), one row per value lost in cleaning: a silver row
    whose cleaned column is NULL although the bronze delivery it came from carried a value that is
    not a placeholder of that field, i.e. a value the cleaning rules could not parse or rejected
    ('1.5k', 'abc', age 200, latitude 95, an unknown category, a timestamp that does not parse).
    Silver keeps such rows with NULL in that field; this test counts them so they show up in every
    run, and its failing rows say which delivery, column and raw value.

    Arguments: raw_relation (the bronze source), columns (names, the same in silver and bronze).
    Silver and bronze rows are matched on the lineage key (_topic, _partition, _offset). One test
    per model, so a run reads each bronze table once for these checks.
-#}
{% test no_values_lost_in_cleaning(model, raw_relation, columns) %}
    {{ lost_values_in_cleaning_sql(model, raw_relation, columns) }}
{% endtest %}
