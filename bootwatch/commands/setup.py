"""`bootwatch setup`: install the index templates (and the ILM policy where the server has ILM).

Idempotent: running it again overwrites the templates with the same content. Every writing command
installs them too, so `setup` is for preparing a cluster ahead of the first collector.
"""

from __future__ import annotations

import argparse

from parsers.store.connect import add_store_arguments

NAME = "setup"
HELP = "Install the bootwatch index templates in the store (idempotent)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bootwatch.commands.dashboards import add_kibana_arguments

    add_store_arguments(parser)
    add_kibana_arguments(parser, required=False)


def run(args: argparse.Namespace) -> int:
    from bootwatch.commands._store_access import open_store
    from bootwatch.errors import UserError
    from parsers.store.errors import StoreError
    from parsers.store.templates import index_layouts, install_templates

    with open_store(args) as store:
        try:
            installed = install_templates(store)
        except StoreError as exc:
            raise UserError(f"could not install the templates: {exc}") from None
        server = f"{store.server.distribution} {store.server.version} at {store.url}"
        patterns = {layout.name: ", ".join(layout.patterns) for layout in index_layouts()}
        for name in installed:
            print(f"installed index template {name} ({patterns[name]})")
        print(
            f"on {server}" + (" (embedded engine: gone when the command ends)" if store.is_embedded else "")
        )
    if args.kibana_url:
        from bootwatch.commands.dashboards import import_into_kibana

        return import_into_kibana(args)
    return 0
