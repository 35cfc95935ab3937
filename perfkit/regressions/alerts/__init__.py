"""Alerts about regressions: targets (email, webhooks), messages and their delivery."""
