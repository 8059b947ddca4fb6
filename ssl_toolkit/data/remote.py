"""Rasters named by URL (``https://``, ``s3://``, ``gs://``, ...) and read through GDAL's network layer.

GDAL reads a cloud-optimised GeoTIFF over HTTP with range requests: the header first, then only the internal
tiles (or overview level) a window needs, never the whole file. Credentials are GDAL's business: it reads them
from the environment (``AWS_ACCESS_KEY_ID``, ``GS_SECRET_ACCESS_KEY``, ``AZURE_STORAGE_SAS_TOKEN``, ...) and the
toolkit never copies them anywhere. A signed URL carries its token in the query string, so every URL the toolkit
prints or writes (tile names, index rows, bad-file lists) goes through ``redacted`` first.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

REMOTE_SCHEMES = ("http", "https", "s3", "gs", "az", "azure", "oss", "swift")

# bounded retries and no directory listing (GDAL would list the "folder" of every URL it opens); users' own
# settings of the same names win
GDAL_NETWORK_DEFAULTS = {
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "0.5",
    "GDAL_HTTP_TIMEOUT": "30",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF",
}


def is_remote(href: str) -> bool:
    """Whether ``href`` is a URL GDAL reads over the network (not a local path or ``file://``)."""
    return urlsplit(str(href)).scheme.lower() in REMOTE_SCHEMES


def redacted(href: str) -> str:
    """``href`` without what may be a secret: the query string (signed URLs), the fragment and any user:password."""
    parts = urlsplit(str(href))
    if not parts.scheme or parts.scheme.lower() not in REMOTE_SCHEMES:
        return str(href)
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def configure_gdal_network() -> None:
    """Set the network defaults above in the environment (GDAL reads its options from there, in this process and
    in DataLoader workers), leaving any the user has set."""
    for key, value in GDAL_NETWORK_DEFAULTS.items():
        os.environ.setdefault(key, value)
