"""The shipper that runs on each secondary site server: standard library, fluent-logger and msgpack only."""
