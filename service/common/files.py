"""Serving files by a name from the URL."""

from __future__ import annotations

import errno

from quart import Response, send_from_directory
from quart.typing import FilePath
from werkzeug.exceptions import NotFound

# The file system's ways of saying a name can name no file here: too long, or a path
# through something that is not a directory. (Python's is_file() passes these on.)
_NO_SUCH_NAME = {errno.ENAMETOOLONG, errno.ENOTDIR, errno.ELOOP, errno.EINVAL}


async def send_named_file(directory: FilePath, filename: str) -> Response:
    """`send_from_directory`, where a name the file system refuses is a 404, not an error
    (an OSError would otherwise be taken for a lost database connection: a 503)."""
    try:
        return await send_from_directory(directory, filename)
    except OSError as error:
        if error.errno in _NO_SUCH_NAME:
            raise NotFound() from None
        raise
