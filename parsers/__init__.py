"""The central side: log-format parsers, the normalized schema, lifecycle, the collector and the store."""
