"""Helpers of the ``pinpipe_daily`` DAG: its configuration (``config``) and its dbt task group
(``dbt_graph``).

Kept out of the DAG file so the file reads as the DAG's shape. The tasks' work is the pipeline's own
steps (``pinpipe.pipeline``), the same the ``pinpipe`` command line runs. Nothing here does work at
import: settings are read, never a database or dbt.
"""
