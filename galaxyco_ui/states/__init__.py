"""Reflex State classes: UI state and event handlers that call services."""
