"""The warehouse side: running dbt on the project (``dbt_runner``), reading the DuckDB file
(``reader``), SQL without Python (``sql_console``), and the dbt-duckdb plugin that reads the bronze
Delta tables (``dbt_delta_plugin``, ``delta_scan``)."""
