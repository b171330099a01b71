"""The platform-neutral core: the report, its life and history, the resident's dialog, the officials' desk."""
