"""What people read: rich text, translations, labels, cards and histories, in the reader's language."""
