"""Telemed-Pet's code. Importing it keeps owners' text out of third-party libraries' logs and warnings
(see adapters.third_party_logs), whichever function or script runs it."""
from shared.adapters.third_party_logs import keep_owner_text_out_of_logs

keep_owner_text_out_of_logs()
