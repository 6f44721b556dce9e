"""The `bootwatch` command: subcommands, the fleet simulator and the demo."""

__version__ = "0.1.0"
