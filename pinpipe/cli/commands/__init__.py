"""The command groups of `pinpipe`, one module each; ``pinpipe.cli.root`` adds them to the root group."""
