"""Benchmarks of the real bot against the Telegram emulator (not part of the pytest suite); see README.md."""
