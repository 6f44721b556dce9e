"""One module per `bootwatch` subcommand."""
