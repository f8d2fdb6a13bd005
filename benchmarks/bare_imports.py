"""Baseline for the cold-start benchmark: imports what the webhook imports at start-up, does nothing else."""
import functions_framework
import google.cloud.firestore  # noqa: F401
import httpx  # noqa: F401
import telegram.ext  # noqa: F401


@functions_framework.http
def bare(request):
    return "ok"
