"""The exception hqnn-pl raises for bad input that the user can fix."""


class ConfigurationError(ValueError):
    """A setting, a file or a folder that the user must change before the run can start.

    The CLI prints its message without a traceback and exits with status 2.
    """


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss: the run stops instead of reporting it.

    The CLI prints its message (epoch, step, the checkpoint that stays valid) without a
    traceback and exits with status 1.
    """


class DiskFullError(ConfigurationError):
    """A write failed for lack of space (or a read-only file system): free space, then resume.

    The CLI prints its message without a traceback, removes the empty files the failed writes
    left in the run folder, and exits with status 2.
    """
