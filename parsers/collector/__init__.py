"""The collector: Forward server -> spool -> re-frame -> parse -> classify -> sink; config and metrics."""
