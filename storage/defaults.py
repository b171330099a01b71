"""Categories a new installation starts with: (key, fallback name, photo required)."""

DEFAULT_CATEGORIES: tuple[tuple[str, str, bool], ...] = (
    ("roads", "Roads", True),
    ("housing", "Housing and utilities", True),
    ("yards", "Yards and landscaping", True),
    ("transport", "Public transport", False),
    ("healthcare", "Healthcare", False),
    ("other", "Other", False),
)
