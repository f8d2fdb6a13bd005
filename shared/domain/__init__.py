"""Domain objects and rules: plain dataclasses, no I/O, no Telegram, no Google imports."""
