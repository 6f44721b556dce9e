"""Saved queries, Kibana saved objects, the alert runner and the fleet statistics."""
