"""Chapter "design for failure": handlers that fail, retry, duplicate and recover, observably."""
