"""User-facing errors: the CLI prints these without a traceback and exits non-zero."""


class MedforgeError(Exception):
    """An error the user can fix: the message names the file, line or key and the fix."""

    exit_code = 2


class ConfigError(MedforgeError):
    """A configuration key or value is invalid."""


class InputError(MedforgeError):
    """An input file is missing, empty or malformed."""
