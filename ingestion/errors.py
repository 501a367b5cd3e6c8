"""The project's own error type: the CLI prints its message as a one-line reason and exits non-zero."""


class PinpipeError(Exception):
    """A failure with a message meant for the person running the command."""
