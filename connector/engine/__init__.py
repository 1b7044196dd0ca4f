"""A route run: pull → map → resolve → match → diff → push → bind → checkpoint."""
