"""CloudEvent trigger: a photo finalized in the photos bucket -> triage -> result stored, owner answered."""
import threading

import functions_framework

from shared.bootstrap import TriageInstance
from shared.config import Settings

_lock = threading.Lock()
_triage: TriageInstance | None = None


def _instance() -> TriageInstance:
    global _triage
    with _lock:  # built once per instance (the model is loaded here), on the first event
        if _triage is None:
            _triage = TriageInstance(Settings.from_env())
    return _triage


@functions_framework.cloud_event
def photo_triage(event):
    _instance().handle(event.data)
