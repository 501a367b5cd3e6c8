"""`python -m ingestion` runs the pinpipe CLI."""

from ingestion.cli import main

main()
