"""The serializer RQ uses for job data, meta and return values: msgpack, never pickle.

Pass the class itself, not an instance: ``Queue(..., serializer=MsgpackSerializer)`` and
``SimpleWorker(..., serializer=MsgpackSerializer)``. RQ 3 workers record the serializer
as ``f"{obj.__module__}.{obj.__qualname__}"`` (work horses re-import it by that path), and
an instance has no ``__qualname__``. On the command line use ``SERIALIZER_PATH``.

msgpack knows None, bool, int, float, str, bytes, list, tuple and dict. Tuples come back
as lists (RQ's ``(func_name, instance, args, kwargs)`` job tuple included, which RQ
accepts). Anything else raises ``TypeError`` at enqueue time instead of being pickled.
A job's return value that cannot be encoded is stored by RQ as its placeholder string
``"Unserializable return value"``.
"""

from __future__ import annotations

from typing import Any

import msgpack

SERIALIZER_PATH = "common.serializer.MsgpackSerializer"


class MsgpackSerializer:
    """RQ serializer (``dumps``/``loads``) backed by msgpack."""

    @staticmethod
    def dumps(obj: Any) -> bytes:
        """Encode ``obj``; raises ``TypeError`` naming the offending type if msgpack cannot."""
        try:
            packed: bytes = msgpack.packb(obj, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            raise TypeError(
                "MsgpackSerializer: expected msgpack-encodable data (None, bool, int, float, "
                f"str, bytes, list, tuple, dict), got {type(obj).__name__} holding "
                f"something msgpack refuses: {exc}"
            ) from exc
        return packed

    @staticmethod
    def loads(data: bytes) -> Any:
        """Decode bytes written by ``dumps``."""
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
