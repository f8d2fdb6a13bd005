"""Use cases: they take repositories as arguments and hold the rules that meet storage."""
