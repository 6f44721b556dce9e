"""One module per log-format family, all with the same small interface."""
