"""What an owner's update can learn when it commits its writes (see adapters/firestore_uow.py).

Each update of an owner stages its writes and commits them at once, conditional on the owner's record
being as the update read it. The two ways that can fail are told apart, because the bot answers them
differently.
"""


class StaleUpdate(Exception):
    """Another update of the same owner moved the dialog on (or took the same step) first: nothing of
    this update was written; the person is told the button or step is outdated."""


class OwnerGone(Exception):
    """The owner erased their data while this update ran: nothing was written, and nothing is sent."""
