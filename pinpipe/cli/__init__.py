"""`pinpipe`: the command line of the pipeline.

Every command reads the one settings object (options > PINPIPE_* environment > pinpipe.toml >
defaults), shows progress on long work on stderr, and on failure exits non-zero with a one-line reason.
The steps themselves live in :mod:`pinpipe.pipeline`, which the Airflow DAG calls too.

One module per command group under ``commands/``; ``root.py`` is the ``pinpipe`` group that adds them;
``process.py`` is everything around the command line (arguments, logging, one-line failures, exit
codes, the end of the process); ``common.py`` what the commands share.
"""

from pinpipe.cli.common import LOCK_HELD, NOT_RUNNING
from pinpipe.cli.process import main, run_cli
from pinpipe.cli.root import cli

__all__ = ["LOCK_HELD", "NOT_RUNNING", "cli", "main", "run_cli"]
