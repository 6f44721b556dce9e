"""Kibana saved objects made from the saved queries: data views, saved searches, Lens charts, a dashboard.

`saved_objects()` builds them, `render_ndjson()` writes them in the form Kibana's
`POST /api/saved_objects/_import` takes (one object per line, keys sorted, so the output is byte-stable and
the committed `dashboards/kibana/bootwatch.ndjson` can be compared with it). Object ids are derived from
names (`bootwatch-search-<query id>`), never random, so a re-import overwrites instead of duplicating.

Target: Kibana 8.9 and every later 8.x (9.x imports 8.x objects too). The version stamps below are the
newest migration of each type in Kibana 8.9, read from Kibana's source and real 8.x exports, never a newer
one: Kibana refuses an object stamped above its own migrations, and runs the migrations above the stamp on
import, so an older stamp is safe where a newer one is not.
  - coreMigrationVersion 8.8.0: the core format since 8.8 (typeMigrationVersion replaced migrationVersion).
  - index-pattern 8.0.0; search 7.9.3 (the last entry of `searchMigrations` in
    src/plugins/saved_search/server/saved_objects/search_migrations.ts); lens 8.9.0 and dashboard 8.9.0
    (the 8.9 Lens/embeddable migrations; 8.9+ exports carry these). Lens state uses the `formBased`
    datasource (the name since 8.6).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dashboards.queries import SavedQuery, bundled_queries
from parsers.store.templates import ALERTS_INDEX, DEADLETTER_INDEX, LOGS_INDEX_PREFIX, SITES_INDEX

CORE_MIGRATION_VERSION = "8.8.0"
TYPE_MIGRATION_VERSIONS: dict[str, str] = {
    "index-pattern": "8.0.0",
    "search": "7.9.3",
    "lens": "8.9.0",
    "dashboard": "8.9.0",
}
# Version written into each dashboard panel: which embeddable migrations Kibana still runs on it.
PANEL_VERSION = "8.9.0"
SEARCH_INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
LAYER_ID = "layer1"
DASHBOARD_ID = "bootwatch-dashboard-fleet"


@dataclass(frozen=True, slots=True)
class DataView:
    """One Kibana data view (saved object type `index-pattern`)."""

    id: str
    name: str
    pattern: str
    time_field: str | None


# `bootwatch-sites` holds one document per attempt with its current state: no time field, so Discover
# shows every attempt's state whatever the time picker says (a site that died in March is still dead).
DATA_VIEWS: tuple[DataView, ...] = (
    DataView("bootwatch-dv-logs", "bootwatch logs", f"{LOGS_INDEX_PREFIX}-*", "@timestamp"),
    DataView("bootwatch-dv-sites", "bootwatch site install attempts", SITES_INDEX, None),
    DataView("bootwatch-dv-alerts", "bootwatch alerts", ALERTS_INDEX, "at"),
    DataView("bootwatch-dv-deadletter", "bootwatch dead letters", DEADLETTER_INDEX, "@timestamp"),
)


def data_view_for(index: str) -> DataView:
    for view in DATA_VIEWS:
        if view.pattern == index:
            return view
    raise KeyError(f"no data view covers index {index!r}; add one to DATA_VIEWS")


def search_id(query: SavedQuery) -> str:
    return f"bootwatch-search-{query.id}"


def _stamped(object_type: str, object_id: str, attributes: dict[str, Any], references: list[dict]) -> dict:
    return {
        "type": object_type,
        "id": object_id,
        "attributes": attributes,
        "references": references,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSIONS[object_type],
    }


def _compact_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def data_view_object(view: DataView) -> dict:
    attributes: dict[str, Any] = {
        "title": view.pattern,
        "name": view.name,
        "allowNoIndex": True,
        "fieldAttrs": "{}",
        "fieldFormatMap": "{}",
        "fields": "[]",
        "runtimeFieldMap": "{}",
        "sourceFilters": "[]",
        "typeMeta": "{}",
    }
    if view.time_field is not None:
        attributes["timeFieldName"] = view.time_field
    return _stamped("index-pattern", view.id, attributes, [])


def search_object(query: SavedQuery) -> dict:
    """A Discover saved search: the query in Lucene mode, the data view by reference."""
    search_source = {
        "query": {"query": query.query, "language": "lucene"},
        "filter": [],
        "indexRefName": SEARCH_INDEX_REF,
    }
    attributes = {
        "title": query.title,
        "description": query.description,
        "columns": list(query.columns),
        "sort": [[field, order] for field, order in query.sort],
        "grid": {},
        "hideChart": False,
        "isTextBasedQuery": False,
        "kibanaSavedObjectMeta": {"searchSourceJSON": _compact_json(search_source)},
    }
    view = data_view_for(query.index)
    return _stamped(
        "search",
        search_id(query),
        attributes,
        [{"type": "index-pattern", "id": view.id, "name": SEARCH_INDEX_REF}],
    )


# --------------------------------------------------------------------------- Lens


def _count_column(label: str) -> dict:
    return {
        "label": label,
        "dataType": "number",
        "operationType": "count",
        "sourceField": "___records___",
        "isBucketed": False,
        "scale": "ratio",
        "params": {"emptyAsNull": True},
    }


def _unique_count_column(label: str, field: str) -> dict:
    return {
        "label": label,
        "dataType": "number",
        "operationType": "unique_count",
        "sourceField": field,
        "isBucketed": False,
        "scale": "ratio",
        "params": {"emptyAsNull": True},
    }


def _terms_column(label: str, field: str, size: int, order_column: str) -> dict:
    return {
        "label": label,
        "dataType": "string",
        "operationType": "terms",
        "sourceField": field,
        "isBucketed": True,
        "scale": "ordinal",
        "params": {
            "size": size,
            "orderBy": {"type": "column", "columnId": order_column},
            "orderDirection": "desc",
            "otherBucket": True,
            "missingBucket": False,
        },
    }


def _date_histogram_column(label: str, field: str) -> dict:
    return {
        "label": label,
        "dataType": "date",
        "operationType": "date_histogram",
        "sourceField": field,
        "isBucketed": True,
        "scale": "interval",
        "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False},
    }


@dataclass(frozen=True, slots=True)
class LensChart:
    """One Lens chart: its columns (in order), its visualization state, its query, its data view."""

    id: str
    title: str
    description: str
    visualization_type: str
    columns: dict[str, dict]
    visualization: dict
    query: str
    data_view: DataView


def _xy_state(series_type: str, x: str, y: str, split: str | None) -> dict:
    layer: dict[str, Any] = {
        "layerId": LAYER_ID,
        "layerType": "data",
        "seriesType": series_type,
        "xAccessor": x,
        "accessors": [y],
    }
    if split is not None:
        layer["splitAccessor"] = split
    return {
        "legend": {"isVisible": True, "position": "right"},
        "valueLabels": "hide",
        "fittingFunction": "None",
        "preferredSeriesType": series_type,
        "layers": [layer],
    }


def lens_charts() -> tuple[LensChart, ...]:
    """The fleet statistics charts, all on install attempts (`bootwatch-sites`)."""
    sites = data_view_for(SITES_INDEX)
    return (
        LensChart(
            id="bootwatch-lens-failures-over-time",
            title="Failed installs over time, by state",
            description="Install attempts that did not succeed, by start date and by state.",
            visualization_type="lnsXY",
            columns={
                "started": _date_histogram_column("Attempt started", "started_at"),
                "state": _terms_column("State", "state", 5, "attempts"),
                "attempts": _count_column("Install attempts"),
            },
            visualization=_xy_state("bar_stacked", "started", "attempts", "state"),
            query="state:(failed_unreported OR stalled OR dark)",
            data_view=sites,
        ),
        LensChart(
            id="bootwatch-lens-failure-rate",
            title="Failure rate: share of finished attempts by state",
            description="Each bar is 100% of the attempts started in that period that are no longer running; "
            "the failed_unreported, stalled and dark shares are the failure rate.",
            visualization_type="lnsXY",
            columns={
                "started": _date_histogram_column("Attempt started", "started_at"),
                "state": _terms_column("State", "state", 5, "attempts"),
                "attempts": _count_column("Install attempts"),
            },
            visualization=_xy_state("bar_percentage_stacked", "started", "attempts", "state"),
            query="NOT state:in_progress",
            data_view=sites,
        ),
        LensChart(
            id="bootwatch-lens-top-error-codes",
            title="Top error codes of failed installs",
            description="The first error code of each failed attempt, most frequent first.",
            visualization_type="lnsXY",
            columns={
                "code": _terms_column("Error code", "error_code", 10, "attempts"),
                "attempts": _count_column("Failed attempts"),
            },
            visualization=_xy_state("bar_horizontal", "code", "attempts", None),
            query="state:failed_unreported AND error_code:*",
            data_view=sites,
        ),
        LensChart(
            id="bootwatch-lens-sites-by-state",
            title="Sites by install state",
            description="Distinct sites per state of their install attempts.",
            visualization_type="lnsPie",
            columns={
                "state": _terms_column("State", "state", 5, "sites"),
                "sites": _unique_count_column("Sites", "site"),
            },
            visualization={
                "shape": "donut",
                "layers": [
                    {
                        "layerId": LAYER_ID,
                        "layerType": "data",
                        "primaryGroups": ["state"],
                        "metrics": ["sites"],
                        "numberDisplay": "value",
                        "categoryDisplay": "default",
                        "legendDisplay": "default",
                        "nestedLegend": False,
                    }
                ],
            },
            query="",
            data_view=sites,
        ),
    )


def lens_object(chart: LensChart) -> dict:
    layer = {"columnOrder": list(chart.columns), "columns": chart.columns, "incompleteColumns": {}}
    attributes = {
        "title": chart.title,
        "description": chart.description,
        "visualizationType": chart.visualization_type,
        "state": {
            "datasourceStates": {"formBased": {"layers": {LAYER_ID: layer}}},
            "visualization": chart.visualization,
            "query": {"query": chart.query, "language": "lucene"},
            "filters": [],
            "internalReferences": [],
            "adHocDataViews": {},
        },
    }
    references = [
        {
            "type": "index-pattern",
            "id": chart.data_view.id,
            "name": f"indexpattern-datasource-layer-{LAYER_ID}",
        }
    ]
    return _stamped("lens", chart.id, attributes, references)


# --------------------------------------------------------------------------- dashboard

_GRID_WIDTH = 48  # Kibana's dashboard grid is 48 columns wide


def dashboard_object(charts: Iterable[LensChart], searches: Iterable[SavedQuery]) -> dict:
    """The fleet dashboard: charts two per row, then the silent-failure searches full width."""
    panels: list[dict] = []
    references: list[dict] = []

    def place(object_type: str, object_id: str, x: int, y: int, width: int, height: int) -> None:
        panel_index = f"p{len(panels) + 1}"
        panels.append(
            {
                "version": PANEL_VERSION,
                "type": object_type,
                "gridData": {"x": x, "y": y, "w": width, "h": height, "i": panel_index},
                "panelIndex": panel_index,
                "embeddableConfig": {"enhancements": {}},
                "panelRefName": f"panel_{panel_index}",
            }
        )
        references.append(
            {"type": object_type, "id": object_id, "name": f"{panel_index}:panel_{panel_index}"}
        )

    half = _GRID_WIDTH // 2
    chart_height = 15
    y = 0
    for number, chart in enumerate(charts):
        place("lens", chart.id, (number % 2) * half, y, half, chart_height)
        if number % 2 == 1:
            y += chart_height
    if len(panels) % 2 == 1:
        y += chart_height
    for query in searches:
        place("search", search_id(query), 0, y, _GRID_WIDTH, 15)
        y += 15
    attributes = {
        "title": "bootwatch: secondary site installs",
        "description": (
            "Silent install deaths across the fleet: states, failure rate, error codes, and the sites "
            "to look at now."
        ),
        "panelsJSON": _compact_json(panels),
        "optionsJSON": _compact_json(
            {
                "useMargins": True,
                "syncColors": False,
                "syncCursor": True,
                "syncTooltips": False,
                "hidePanelTitles": False,
            }
        ),
        "timeRestore": True,
        "timeFrom": "now-90d",
        "timeTo": "now",
        "refreshInterval": {"pause": True, "value": 60000},
        "kibanaSavedObjectMeta": {
            "searchSourceJSON": _compact_json({"query": {"query": "", "language": "lucene"}, "filter": []})
        },
        "version": 1,
    }
    return _stamped("dashboard", DASHBOARD_ID, attributes, references)


# Saved searches shown on the dashboard, below the charts: what to act on.
DASHBOARD_SEARCHES = ("silent-install-failures", "sites-gone-dark")


def saved_objects(queries: tuple[SavedQuery, ...] | None = None) -> list[dict]:
    """Every object, referenced ones before those that reference them."""
    pool = bundled_queries() if queries is None else queries
    charts = lens_charts()
    by_id = {query.id: query for query in pool}
    on_dashboard = [by_id[query_id] for query_id in DASHBOARD_SEARCHES if query_id in by_id]
    return [
        *(data_view_object(view) for view in DATA_VIEWS),
        *(search_object(query) for query in pool),
        *(lens_object(chart) for chart in charts),
        dashboard_object(charts, on_dashboard),
    ]


def render_ndjson(objects: Iterable[dict]) -> str:
    """One compact JSON object per line, keys sorted, newline-terminated."""
    return "".join(_compact_json(obj) + "\n" for obj in objects)
