"""Plugins that run localstack-core for the book without Docker (see README.md beside this package)."""
