"""The composition root of pinpipe: the command line and the pipeline's steps.

``emulator`` and ``ingestion`` sit below this package and never import it; the Airflow DAG calls the
same steps (:mod:`pinpipe.pipeline`) as the command line (:mod:`pinpipe.cli`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pinpipe")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
