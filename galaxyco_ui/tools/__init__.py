"""Agent tools behind one interface. ``catalog`` lists the tools an agent may enable."""
