"""Push batches of files to Productiv's Batch Files Upload API.

    from productiv_upload import push

    result = push(["exports/*.json"], app_id="myAppId")
    if not result.ok:
        ...

The names below are the whole public Python interface; everything else is internal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AccessRefused",
    "FileResult",
    "LockHeld",
    "PushResult",
    "UploadError",
    "UsageError",
    "__version__",
    "push",
]

if TYPE_CHECKING:
    from productiv_upload.common.errors import AccessRefused, LockHeld, UploadError, UsageError
    from productiv_upload.core.model import FileResult
    from productiv_upload.library import PushResult, push

_LAZY = {
    "AccessRefused": "productiv_upload.common.errors",
    "LockHeld": "productiv_upload.common.errors",
    "UploadError": "productiv_upload.common.errors",
    "UsageError": "productiv_upload.common.errors",
    "FileResult": "productiv_upload.core.model",
    "PushResult": "productiv_upload.library",
    "push": "productiv_upload.library",
}


def __getattr__(name: str) -> Any:
    # Loaded on first use, so `productiv-upload --version` and the CLI's start-up do not pay
    # for the library's imports.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'productiv_upload' has no attribute {name!r}")
