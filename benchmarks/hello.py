"""Reference for the cold-start benchmark: the smallest function there is."""
import functions_framework


@functions_framework.http
def hello(request):
    return "ok"
