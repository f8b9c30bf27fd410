"""Whether the framework integrations add themselves to a script that did not ask for them."""

from __future__ import annotations

import os
from collections.abc import Mapping

from trainjob_api.contract import TRAINJOB_NAME

#: Set to 0 (or false, no, off) in a TrainJob's `spec.env` to keep the integrations out of a
#: script: no callback is added automatically (one added by hand still works).
AUTO_CALLBACKS_VARIABLE = "TRAINJOB_AUTO_CALLBACKS"
_OFF = frozenset({"0", "false", "no", "off"})


def auto_callbacks_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """True in a TrainJob worker (a pod, or `trainjob run`) unless `TRAINJOB_AUTO_CALLBACKS` is off."""
    env = os.environ if environ is None else environ
    if not env.get(TRAINJOB_NAME):
        return False
    return env.get(AUTO_CALLBACKS_VARIABLE, "1").strip().lower() not in _OFF
