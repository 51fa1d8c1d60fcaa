"""Heartbeat monitors: silent sources raise their own alert."""
