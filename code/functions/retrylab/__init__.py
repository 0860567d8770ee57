"""Chapter "the retry table": functions that fail on purpose and record every attempt the platform makes."""
