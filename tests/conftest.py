"""Shared fixtures: the real services are started by .ci/run; here we only make temp dirs and emulators."""
