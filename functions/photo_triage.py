"""CloudEvent trigger: a photo finalized in the photos bucket -> triage -> result stored, owner answered.

Event data that is no object event (not a JSON object; name, bucket or generation missing or of the wrong
type) and an event for another bucket get a 400 with a JSON error, at once: the function raises
werkzeug's HTTPException, which functions-framework passes on (any other exception is a 500, which
Eventarc retries). What the trigger acknowledges without acting and what it retries: see
services.triage.handle_object_event.
"""
import json
import logging
import threading

import functions_framework
from flask import Response, abort

from shared.bootstrap import TriageInstance
from shared.config import Settings
from shared.services.triage import BadEvent, ObjectEvent

log = logging.getLogger(__name__)
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
    try:
        obj = ObjectEvent.parse(event.data)  # before the instance: a malformed event costs nothing
        _instance().handle(obj)
    except BadEvent as err:
        log.warning("photo_triage refused an event: %s", err)
        abort(Response(json.dumps({"error": str(err)}), 400, mimetype="application/json"))
