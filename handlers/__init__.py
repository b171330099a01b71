"""Messenger adapters: they translate updates into the core and the core's replies into messages."""
