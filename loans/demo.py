"""Demo loans (filled in with the seeders)."""
