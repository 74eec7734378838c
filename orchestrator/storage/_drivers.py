"""What a database server or SQLAlchemy says back, in the user's terms: a driver that is not
installed (the package to install), a database that does not exist (the ``createdb`` to run)."""

from __future__ import annotations

import re

__all__ = ["NO_DATABASE", "createdb_command", "missing_driver"]

# the package that provides each driver SQLAlchemy may ask for
_DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pymysql": "pymysql",
    "MySQLdb": "mysqlclient",
}
# PostgreSQL's words for a database that is not there
NO_DATABASE = re.compile(r'database "(?P<name>[^"]+)" does not exist')


def createdb_command(url: str, name: str) -> str:
    """The ``createdb`` command for database ``name`` on the server of ``url`` (no password)."""
    import shlex

    from sqlalchemy.engine import make_url

    parsed, words = make_url(url), ["createdb"]
    for flag, value in (("-h", parsed.host), ("-p", parsed.port), ("-U", parsed.username)):
        if value and value not in ("localhost", 5432):
            words += [flag, str(value)]
    return shlex.join([*words, name])


def missing_driver(exc: BaseException | None) -> str | None:
    """ "the database driver 'psycopg' is not installed; install it with: pip install ..." if a
    missing module is what ``exc`` (or its cause) says, else None."""
    while exc is not None:
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            missing = exc.name.split(".")[0]
            package = _DRIVER_PACKAGES.get(missing, missing)
            return (
                f"the database driver '{missing}' is not installed; install it with: "
                f"pip install '{package}'"
            )
        exc = exc.__cause__ or exc.__context__
    return None
