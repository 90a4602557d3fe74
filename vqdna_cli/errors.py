"""The error hierarchy. The CLI catches `VqdnaError` in one place and prints its message
as a single line; anything else is a bug and keeps its traceback."""

import errno
import warnings

# Errors of the disk, not of vqdna: the output cannot be written (exit 4), one line.
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)
# ... and of a path the user's file system puts in the way (a folder where vqdna writes a file,
# a file without permission), where no earlier check named it: exit 4, one line.
PATH_ERRORS = (errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.EPERM)


class VqdnaError(Exception):
    """A problem the user can fix: the message names the bad value and the fix."""

    exit_code = 1


class UsageError(VqdnaError):
    """A bad option value or combination that only vqdna can check (a value not among its
    choices, an unknown preset, a stride longer than the model window): exit 2, as Typer's
    own usage errors."""

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


class TrainingError(VqdnaError):
    """Training that cannot go on: its loss is no longer a number (it diverged)."""


class VqdnaWarning(UserWarning):
    """Something the user should know that does not stop the command: one stderr line
    (`vqdna: warning: ...`), silenced by --quiet."""


# Said each time, not once per line of vqdna that warns (Python's default): a notebook cell
# run again for the same input warned only the first time. Appended, so a filter of the
# user's own (`warnings.simplefilter("ignore", VqdnaWarning)`) still wins.
warnings.filterwarnings("always", category=VqdnaWarning, append=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the process is, so that it cleans up as after Ctrl-C."""

    def __init__(self, signum: int = 15, what: str = "terminated"):
        super().__init__(what)
        self.signum, self.what = signum, what
