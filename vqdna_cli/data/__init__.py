"""Alphabet, windows and batches: turning sequences into model input. No torch here."""
