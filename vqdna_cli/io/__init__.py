"""File formats: reading sequences and writing results. No torch here."""
