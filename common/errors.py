"""The one exception type that the command line turns into ``error: ...`` and exit status 2."""


class UserError(Exception):
    """Bad input from the user: the message says what is wrong and what to do."""
