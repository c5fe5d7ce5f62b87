"""Thin Telegram handlers: read the update, call a service, answer with translated text."""
