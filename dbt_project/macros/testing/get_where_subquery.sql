{#-
    Overrides dbt's get_where_subquery (what a data test reads as its `model`) to understand one
    placeholder in a test's `where` config, `__latest_load__`, set for every data test of the
    project in dbt_project.yml:

    * on a model with a `_loaded_at` column (silver staging, gold `posts`) a row-by-row test
      (not_null, accepted_values, relationships, the warn tests) checks the rows of the model's
      latest load, `_loaded_at = max(_loaded_at)`: after a full build that is every row, after a
      daily incremental run the rows that run added, so a daily run tests the new day instead of all
      of history;
    * uniqueness tests (`unique`, `unique_combination_of_columns`) always check every row: a key of
      the latest load may repeat one of an earlier load;
    * on any other model, or with `--vars '{pinpipe_test_all_rows: true}'`, every row.

    Rows added by earlier loads were tested by the run that added them. Run the tests with
    `pinpipe_test_all_rows` (e.g. weekly, or after a manual change to the tables) to check every
    row again.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__latest_load__' in where -%}
        {%- set condition = latest_load_condition(relation) -%}
        {%- set where = where | replace('__latest_load__', condition) -%}
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

{#- `true`, or the rows of the latest load of `relation` when it has a `_loaded_at` column. -#}
{% macro latest_load_condition(relation) -%}
    {%- if var('pinpipe_test_all_rows', false) or not execute -%}
        {{- return('true') -}}
    {%- endif -%}
    {#- a key of the latest load may repeat one of an earlier load: uniqueness is checked over every row -#}
    {%- set test_name = model.get('test_metadata', {}).get('name', '') if model is mapping else '' -%}
    {%- if test_name in ('unique', 'unique_combination_of_columns') -%}
        {{- return('true') -}}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(relation) -%}
    {%- set column_names = columns | map(attribute='name') | map('lower') | list -%}
    {%- if '_loaded_at' not in column_names -%}
        {{- return('true') -}}
    {%- endif -%}
    {{- return('_loaded_at = (select max(latest._loaded_at) from ' ~ relation ~ ' as latest)') -}}
{%- endmacro %}
