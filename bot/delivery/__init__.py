"""Delivery: the worker that drains the outbox into the messengers, its send budgets, the relay and the local split."""
