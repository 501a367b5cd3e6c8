{#-
    Overrides dbt's get_where_subquery (what a data test reads as its `model`) to understand one
    placeholder in a test's `where` config, `__latest_load__`, set for every data test of the
    project in dbt_project.yml:

    * on a model with a `_loaded_at` column (silver staging, int_posts_joined, gold `posts`) a
      row-by-row test
      (not_null, accepted_values, relationships, the warn tests) checks the rows of the model's
      latest load, `_loaded_at = max(_loaded_at)`: after a full build that is every row, after a
      daily incremental run the rows that run added, so a daily run tests the new day instead of all
      of history;
    * a `unique` test (on a column, or on an expression such as a composite key) checks every row
      whose key occurs in the latest load: a key of the latest load that repeats one of an earlier
      load (or of the same load) fails it, and the engine reads the key of history once for a
      semi-join instead of grouping all of history. Duplicates among older keys only were caught by
      the run that loaded them;
    * on any other model (views, whole-table gold answers), or with
      `--vars '{pinpipe_test_all_rows: true}'`, every row.

    Run the tests with `pinpipe_test_all_rows` (e.g. weekly, or after a manual change to the tables)
    to check every row again. Whether the tested model has `_loaded_at` is read from its documented
    columns in the manifest (every column is documented), not from the database.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__latest_load__' in where -%}
        {%- set latest_load = latest_load_condition(relation) -%}
        {%- set key = uniqueness_test_key() -%}
        {%- if key and latest_load != 'true' -%}
            {%- do return(rows_sharing_a_latest_key(relation, key, latest_load)) -%}
        {%- endif -%}
        {%- set where = where | replace('__latest_load__', latest_load) -%}
    {%- endif -%}
    {%- if where and where != 'true' -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) as dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- `true`, or the condition on a row of `relation` to be of its latest load (models with `_loaded_at`). -#}
{% macro latest_load_condition(relation) -%}
    {%- if var('pinpipe_test_all_rows', false) or not execute or model is not mapping -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.get('attached_node') or '') -%}
    {%- if tested is none or '_loaded_at' not in tested.get('columns', {}) -%}
        {{- return('true') -}}
    {%- endif -%}
    {{- return(latest_load_only(relation) | trim) -}}
{%- endmacro %}

{#-
    The condition on a row of `relation` (a model with `_loaded_at`) to be of its latest load, or
    `true` with `--vars '{pinpipe_test_all_rows: true}'`; for singular tests too.
-#}
{% macro latest_load_only(relation) -%}
    {%- if var('pinpipe_test_all_rows', false) -%}
        true
    {%- else -%}
        _loaded_at = (select max(latest._loaded_at) from {{ relation }} as latest)
    {%- endif -%}
{%- endmacro %}

{#- The key (a column or an expression) of the running test when it is a `unique` test, else none. -#}
{% macro uniqueness_test_key() -%}
    {%- set metadata = model.get('test_metadata') or {} if model is mapping else {} -%}
    {%- if metadata.get('name') == 'unique' -%}
        {{- return(metadata.get('kwargs', {}).get('column_name')) -}}
    {%- endif -%}
    {{- return(none) -}}
{%- endmacro %}

{#-
    The rows of `relation` whose `key` (a column or an expression over its columns) equals,
    NULL-safe, the key of a row of the latest load (`latest_load`): a semi-join.
-#}
{% macro rows_sharing_a_latest_key(relation, key, latest_load) -%}
    {%- set subquery -%}
        (
            select candidate.*
            from (select *, {{ key }} as _pinpipe_key from {{ relation }}) as candidate
            where exists (
                select 1
                from (select {{ key }} as _pinpipe_key from {{ relation }} where {{ latest_load }}) as latest_key
                where latest_key._pinpipe_key is not distinct from candidate._pinpipe_key
            )
        ) as dbt_subquery
    {%- endset -%}
    {{- return(subquery) -}}
{%- endmacro %}
