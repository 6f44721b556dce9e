"""Index templates: mappings generated from the schema, strict, installed idempotently."""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import BadRequestError
from pydantic import BaseModel

from parsers import schema
from parsers.store.connect import Store
from parsers.store.templates import (
    DEADLETTER_INDEX,
    SITES_INDEX,
    index_layouts,
    install_templates,
    mapping_for,
)


def _model_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        paths.add(path)
        nested = [
            arg for arg in _flatten(field.annotation) if isinstance(arg, type) and issubclass(arg, BaseModel)
        ]
        for inner in nested:
            paths |= _model_paths(inner, f"{path}.")
    return paths


def _flatten(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", None)
    if not args:
        return [annotation]
    return [leaf for arg in args for leaf in _flatten(arg)]


def _mapping_paths(properties: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, mapping in properties.items():
        paths.add(f"{prefix}{key}")
        if "properties" in mapping:
            paths |= _mapping_paths(mapping["properties"], f"{prefix}{key}.")
    return paths


@pytest.mark.parametrize("layout", index_layouts(), ids=lambda layout: layout.name)
def test_every_model_field_has_a_mapping_and_every_mapping_a_field(layout: Any) -> None:
    mapping = mapping_for(layout.model)
    assert mapping["dynamic"] == "strict"
    assert _mapping_paths(mapping["properties"]) == _model_paths(layout.model)


def test_field_types_follow_the_schema_types() -> None:
    properties = mapping_for(schema.LogDocument)["properties"]
    assert properties["@timestamp"] == {"type": "date"}
    assert properties["message"]["type"] == "text"
    assert properties["message"]["fields"]["keyword"]["type"] == "keyword"
    assert properties["event"]["properties"]["action"] == {"type": "keyword"}
    assert properties["event"]["properties"]["original"]["index"] is False
    assert properties["sms"]["properties"]["site"]["properties"]["code"]["type"] == "keyword"
    assert properties["log"]["properties"]["offset"] == {"type": "long"}
    assert (
        properties["sms"]["properties"]["status_message"]["properties"]["insertion_strings"]["type"] == "text"
    )
    sites = mapping_for(schema.SiteAttempt)["properties"]
    assert sites["state"] == {"type": "keyword"}
    assert sites["implicit_start"] == {"type": "boolean"}


@pytest.mark.integration
def test_installing_twice_is_harmless_and_new_indices_are_strict(clean_store: Store) -> None:
    first = install_templates(clean_store)
    assert install_templates(clean_store) == first
    assert set(first) == {
        "bootwatch-logs",
        SITES_INDEX,
        "bootwatch-heartbeats",
        DEADLETTER_INDEX,
        "bootwatch-alerts",
    }
    client = clean_store.client
    client.index(index="bootwatch-logs-2002.07", id="x", document={"message": "m"})
    mapping = client.indices.get_mapping(index="bootwatch-logs-2002.07")["bootwatch-logs-2002.07"]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert mapping["properties"]["sms"]["properties"]["site"]["properties"]["code"]["type"] == "keyword"
    with pytest.raises(BadRequestError):
        client.index(index=SITES_INDEX, id="y", document={"not_a_field": 1})


@pytest.mark.integration
def test_an_index_created_by_an_older_schema_gains_the_new_fields(clean_store: Store) -> None:
    client = clean_store.client
    # As on a cluster set up by an older bootwatch: no template of this version shapes the index.
    client.options(ignore_status=404).indices.delete_index_template(name=SITES_INDEX)
    older = mapping_for(schema.SiteAttempt)
    del older["properties"]["evidence"]
    client.indices.create(index=SITES_INDEX, mappings=older)
    with pytest.raises(BadRequestError):
        client.index(index=SITES_INDEX, id="a", document={"site": "S02", "evidence": 3})

    install_templates(clean_store)

    client.index(index=SITES_INDEX, id="a", document={"site": "S02", "evidence": 3}, refresh=True)
    mapping = client.indices.get_mapping(index=SITES_INDEX)[SITES_INDEX]["mappings"]
    assert mapping["properties"]["evidence"]["type"] == "long"
