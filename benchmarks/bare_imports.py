"""Baseline for the cold-start benchmark: imports the third-party libraries the webhook imports before
its first answer (httpcore is the one httpx loads lazily), and does nothing else."""
import functions_framework
import google.cloud.firestore  # noqa: F401
import httpcore  # noqa: F401
import httpx  # noqa: F401
import telegram.ext  # noqa: F401


@functions_framework.http
def bare(request):
    return "ok"
