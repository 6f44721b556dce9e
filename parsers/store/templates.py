"""Index layout: composable index templates with strict mappings, generated from the pydantic schema.

The models in `parsers/schema.py` are the one source of truth: every field becomes a mapping by its
type (bounded strings `Keyword` -> keyword, free text -> text with a keyword sub-field, datetimes ->
date, nested models -> objects), and `dynamic: strict` makes any field the schema does not know a
refused (then dead-lettered) record instead of a silent mapping change. A few fields get a
hand-chosen mapping in `MAPPING_OVERRIDES` (the raw original is stored, not indexed).

`install_templates` is idempotent and runs from `bootwatch setup` and at the start of every writing
command. Logs go to monthly `bootwatch-logs-YYYY.MM` indices by event month (`parsers.schema.index_for`).
"""

from __future__ import annotations

import enum
import logging
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from elasticsearch import ApiError
from pydantic import BaseModel

from parsers import schema
from parsers.store.connect import Store

logger = logging.getLogger(__name__)

LOGS_INDEX_PREFIX = "bootwatch-logs"
SITES_INDEX = "bootwatch-sites"
HEARTBEATS_INDEX = "bootwatch-heartbeats"
DEADLETTER_INDEX = "bootwatch-deadletter"
ALERTS_INDEX = "bootwatch-alerts"
SETTINGS_COMPONENT = "bootwatch-settings"
LOGS_ILM_POLICY = "bootwatch-logs"
LOGS_RETENTION_DAYS = 400  # 13 months: a year of installs plus the month being compared with

# Stored for people and dead letters, never searched: no index, no doc values, no size limit.
STORED_ONLY: dict[str, Any] = {"type": "keyword", "index": False, "doc_values": False}
KEYWORD_LIMIT = 1024
FREE_TEXT: dict[str, Any] = {
    "type": "text",
    "fields": {"keyword": {"type": "keyword", "ignore_above": KEYWORD_LIMIT}},
}


@dataclass(frozen=True, slots=True)
class IndexLayout:
    """One index template: which indices it covers and which model their documents follow."""

    name: str
    patterns: tuple[str, ...]
    model: type[BaseModel]


def index_layouts() -> tuple[IndexLayout, ...]:
    """Every bootwatch index template."""
    return (
        IndexLayout(LOGS_INDEX_PREFIX, (f"{LOGS_INDEX_PREFIX}-*",), schema.LogDocument),
        IndexLayout(SITES_INDEX, (SITES_INDEX,), schema.SiteAttempt),
        IndexLayout(HEARTBEATS_INDEX, (HEARTBEATS_INDEX,), schema.HeartbeatDocument),
        IndexLayout(DEADLETTER_INDEX, (DEADLETTER_INDEX,), schema.DeadLetterDocument),
        IndexLayout(ALERTS_INDEX, (ALERTS_INDEX,), schema.AlertDocument),
    )


# model -> dotted field path -> mapping used instead of the one its type implies
MAPPING_OVERRIDES: dict[type[BaseModel], dict[str, dict[str, Any]]] = {
    schema.LogDocument: {"event.original": STORED_ONLY},
    schema.DeadLetterDocument: {"original": STORED_ONLY},
}


def _is_bounded(metadata: typing.Iterable[Any]) -> bool:
    """A `Keyword` (a string with max_length): an identifier, not prose."""
    return any(getattr(item, "max_length", None) is not None for item in metadata)


def _type_mapping(
    annotation: Any, metadata: list[Any], overrides: dict[str, dict[str, Any]], path: str
) -> dict:
    """Mapping of one annotation: Optional/Annotated/list unwrap to what they hold."""
    if path in overrides:
        return dict(overrides[path])
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *extra = typing.get_args(annotation)
        nested_metadata = [*metadata, *extra]
        for item in extra:
            nested_metadata.extend(getattr(item, "metadata", ()))
        return _type_mapping(inner, nested_metadata, overrides, path)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        mappings = [_type_mapping(member, metadata, overrides, path) for member in members]
        if any(mapping != mappings[0] for mapping in mappings):
            raise TypeError(f"{path}: a union of differently mapped types cannot have one mapping")
        return mappings[0]
    if origin in (list, tuple, set, frozenset):
        (item,) = {arg for arg in typing.get_args(annotation) if arg is not Ellipsis}
        return _type_mapping(item, metadata, overrides, path)
    if origin is typing.Literal:
        return {"type": "keyword"}
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return {"properties": _properties(annotation, overrides, f"{path}.")}
        if issubclass(annotation, enum.Enum):
            return {"type": "keyword"}
        if issubclass(annotation, bool):
            return {"type": "boolean"}
        if issubclass(annotation, int):
            return {"type": "long"}
        if issubclass(annotation, float):
            return {"type": "double"}
        if issubclass(annotation, datetime | date):
            return {"type": "date"}
        if issubclass(annotation, str):
            if _is_bounded(metadata):
                return {"type": "keyword", "ignore_above": KEYWORD_LIMIT}
            return dict(FREE_TEXT)
    raise TypeError(
        f"{path}: no index mapping for type {annotation!r}; add one to parsers/store/templates.py"
    )


def _properties(model: type[BaseModel], overrides: dict[str, dict[str, Any]], prefix: str = "") -> dict:
    properties: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = f"{prefix}{key}"
        properties[key] = _type_mapping(field.annotation, list(field.metadata), overrides, path)
    return properties


def mapping_for(model: type[BaseModel]) -> dict[str, Any]:
    """The strict index mapping of a model: every field of it, and nothing else."""
    return {"dynamic": "strict", "properties": _properties(model, MAPPING_OVERRIDES.get(model, {}))}


def _install_ilm_policy(store: Store) -> bool:
    """Install the logs retention policy where the server has ILM; say so once where it has not."""
    if not store.capabilities.ilm:
        logger.info(
            "%s %s has no ILM: bootwatch-logs-* indices are kept until deleted",
            store.server.distribution,
            store.server.version,
        )
        return False
    try:
        store.client.ilm.put_lifecycle(
            name=LOGS_ILM_POLICY,
            policy={
                "phases": {
                    "hot": {"min_age": "0ms", "actions": {}},
                    "delete": {"min_age": f"{LOGS_RETENTION_DAYS}d", "actions": {"delete": {}}},
                }
            },
        )
    except ApiError as exc:
        # e.g. a user without the manage_ilm privilege: retention is then the operator's job
        logger.info(
            "could not install ILM policy %s (%s): indices are kept until deleted", LOGS_ILM_POLICY, exc
        )
        return False
    return True


def install_templates(store: Store) -> list[str]:
    """Install (or overwrite: idempotent) the component and index templates; returns the template names."""
    with_ilm = _install_ilm_policy(store)
    client = store.client
    client.cluster.put_component_template(
        name=SETTINGS_COMPONENT,
        template={"settings": {"index": {"number_of_shards": 1}}},
        meta={"managed_by": "bootwatch"},
    )
    installed: list[str] = []
    for layout in index_layouts():
        mappings_component = f"{layout.name}-mappings"
        client.cluster.put_component_template(
            name=mappings_component,
            template={"mappings": mapping_for(layout.model)},
            meta={"managed_by": "bootwatch", "model": layout.model.__name__},
        )
        settings: dict[str, Any] = {}
        if with_ilm and layout.name == LOGS_INDEX_PREFIX:
            settings["index"] = {"lifecycle": {"name": LOGS_ILM_POLICY}}
        client.indices.put_index_template(
            name=layout.name,
            index_patterns=list(layout.patterns),
            composed_of=[SETTINGS_COMPONENT, mappings_component],
            template={"settings": settings} if settings else None,
            priority=200,
            meta={"managed_by": "bootwatch"},
        )
        installed.append(layout.name)
        _extend_existing_indices(store, layout.patterns, mapping_for(layout.model))
    return installed


def _extend_existing_indices(store: Store, patterns: tuple[str, ...], mapping: dict[str, Any]) -> None:
    """Add fields a newer schema brought to indices created before it.

    A template shapes only indices created after it, and a strict mapping refuses every document
    carrying a field the index does not know: without this, upgrading bootwatch would make an old
    `bootwatch-sites` refuse all new attempts. Additive changes apply in place; a changed field type
    cannot, and is logged with what to do.
    """
    try:
        store.client.indices.put_mapping(
            index=",".join(patterns),
            properties=mapping["properties"],
            allow_no_indices=True,
            ignore_unavailable=True,
        )
    except ApiError as exc:
        logger.warning(
            "could not add new fields to existing %s indices (%s): reindex them into a fresh index",
            ",".join(patterns),
            exc,
        )
