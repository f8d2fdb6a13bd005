"""One module a feature; `register` wires each into the Application."""
