"""Navigation and tiles of the loan book (filled in with the pages)."""
