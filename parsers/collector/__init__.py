"""The collector: Forward server -> spool -> re-frame -> parse -> classify -> sink, with its config and metrics."""
