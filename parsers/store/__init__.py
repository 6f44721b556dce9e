"""The store: Elasticsearch selection, templates, the writer, site install state."""
