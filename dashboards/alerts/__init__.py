"""The alert runner: saved queries on a schedule -> raised / resolved alerts -> notification channels."""
