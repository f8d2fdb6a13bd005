"""Baseline for booking_callbacks' cold start: imports the third-party libraries that function imports
before its first answer (the bare Bot of python-telegram-bot, not telegram.ext; httpcore is the one httpx
loads lazily), and does nothing else."""
import functions_framework
import google.cloud.firestore  # noqa: F401
import httpcore  # noqa: F401
import httpx  # noqa: F401
import telegram  # noqa: F401


@functions_framework.http
def bare(request):
    return "ok"
