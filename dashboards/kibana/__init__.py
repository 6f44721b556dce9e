"""Kibana: generated saved objects (NDJSON), alerting rule payloads, and the import into Kibana."""
