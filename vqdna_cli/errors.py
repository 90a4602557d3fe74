"""The error hierarchy. The CLI catches `VqdnaError` in one place and prints its message
as a single line; anything else is a bug and keeps its traceback."""


class VqdnaError(Exception):
    """A problem the user can fix: the message names the bad value and the fix."""

    exit_code = 1


class UsageError(VqdnaError):
    """A bad option value or combination that only vqdna can check (an unknown preset, a
    stride longer than the model window): exit 2, as Typer's own usage errors."""

    exit_code = 2


class InputError(VqdnaError):
    """Unreadable, malformed or inconsistent input data."""

    exit_code = 2


class ModelError(VqdnaError):
    """A weights directory that is missing, corrupted or incompatible."""

    exit_code = 3


class OutputError(VqdnaError):
    """An output that cannot or must not be written."""

    exit_code = 4
