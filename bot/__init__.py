"""Vigie core: domain models, store, intake and the composition root.

Nothing in this package imports a platform SDK (Telegram, Slack, Twilio):
adapters live in ``handlers/`` and reach the core through plain calls.
"""
