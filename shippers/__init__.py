"""The shipper that runs on each secondary site server: standard library, fluent-logger and msgpack only."""

# Reported in heartbeats; kept here because the shipper must not import the `bootwatch` package.
__version__ = "0.1.0"
