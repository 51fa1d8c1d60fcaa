"""Channel adapters: translate platform events into core calls and back."""
