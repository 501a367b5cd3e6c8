"""Helpers of the ``pinpipe_daily`` DAG: its configuration (``config``), its dbt task group
(``dbt_graph``) with its per-model sensor (``model_sensor``; every private Cosmos name it needs is in
``cosmos_internals``), and the Kafka probe of ``source=auto`` (``kafka_probe``).

Kept out of the DAG file so the file reads as the DAG's shape. The tasks' work is the pipeline's own
steps (``pinpipe.pipeline``), the same the ``pinpipe`` command line runs. Nothing here does work at
import: settings are read, never a database or dbt.
"""
