"""python-telegram-bot adapters: handlers translate an Update into a service call and a reply."""
