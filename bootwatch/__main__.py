"""Lets `python -m bootwatch` run the command."""

from bootwatch.cli import main

raise SystemExit(main())
