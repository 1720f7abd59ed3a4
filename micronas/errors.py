"""User-facing errors: each carries one sentence naming the bad value and what is valid."""

import functools
import sys


class MicronasError(Exception):
    """A mistake in the user's input (config, file, data, board) explained in one sentence."""


class ConfigError(MicronasError):
    """A config value or group option that is not valid."""


class DataError(MicronasError):
    """A dataset that is missing, corrupt or malformed."""


def exit_on_user_error(main):
    """Decorate an entry point so a `MicronasError` prints its sentence and exits with status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except MicronasError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    return wrapper
