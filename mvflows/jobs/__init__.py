"""jobflow jobs of the mvflows graph; each returns a typed document."""
