"""`python -m pinpipe` runs the pinpipe command line."""

from pinpipe.cli import main

main()
