"""Reusable components: the app shell, form fields, badges, dialogs."""
