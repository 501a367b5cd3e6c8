"""Helpers of the ``pinpipe_daily`` DAG: its configuration (``config``) and task bodies (``tasks``).

Kept out of the DAG file so the file reads as the DAG's shape, and so the task bodies can be tested
without Airflow. Nothing here does work at import: settings are read, never a database or dbt.
"""
