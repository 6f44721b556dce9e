"""The fleet simulator: deterministic output, folder layout, truth consistent with the logs, coverage."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bootwatch.cli import main
from bootwatch.simulate import (
    APPEND,
    MAX_SITES,
    ROTATE,
    FileEvent,
    Fleet,
    FleetPlan,
    LiveWriter,
    apply_event,
    rotated_name,
    site_code,
)
from parsers.lifecycle.rules import load_rules

ROTATION_MARKER = "<MAXIMUM LOG FILE SIZE REACHED - FILE RENAMED>"


@pytest.fixture(scope="module")
def fleet30() -> FleetPlan:
    return Fleet.plan(30, seed=7)


@pytest.fixture(scope="module")
def fleet30_dir(fleet30: FleetPlan, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet30")
    fleet30.write_all(out)
    return out


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def decode_file(data: bytes) -> str:
    """Decode a whole log file as a reader would: BOM first, else UTF-8, else Windows-1252."""
    if data.startswith(b"\xff\xfe"):
        return data[2:].decode("utf-16-le")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def record_texts(plan: FleetPlan) -> list[tuple[FileEvent, str]]:
    """Each appended record with its decoded text (without the CRLF), in the file's encoding."""
    codecs: dict[tuple[str, str], str] = {}
    found = []
    for site in plan.sites:
        for event in site.events:
            key = (event.site, event.name)
            if event.kind == ROTATE:
                codecs.pop(key, None)
            elif event.family is None:
                codecs[key] = "utf-16-le" if event.data == b"\xff\xfe" else "utf-8"
            else:
                codec = codecs.get(key, "utf-8")
                try:
                    text = event.data.decode(codec)
                except UnicodeDecodeError:
                    text = event.data.decode("cp1252")
                assert text.endswith("\r\n")
                found.append((event, text[:-2]))
    return found


def message_of(family: str, text: str) -> str:
    """The message the parsers hand to the rules, cut out with the shapes LOG_FORMATS.md gives."""
    if family == "cmtrace":
        match = re.match(r"<!\[LOG\[(.*)\]LOG\]!><", text, re.DOTALL)
        assert match, text
        return match.group(1)
    if family == "sms_legacy":
        return text[: text.rindex("$$<")].rstrip(" ").replace("~", "\n").rstrip("\n")
    if family == "smssetup":
        assert re.match(r"\d\d-\d\d-\d{4} \d\d:\d\d:\d\d ", text), text
        return text[20:]
    if family == "smsprov":
        return text.split("]:", 1)[1]
    return text


def hresult_in(text: str) -> list[str]:
    """Error codes a record's text spells, in HRESULT form (the issue's rules, re-stated independently)."""
    codes = [f"0x{value.upper()}" for value in re.findall(r"\b0x([0-9A-Fa-f]{8})\b", text)]
    for number in re.findall(r"Win32 (?:error|return) = (\d+)|\berror (\d+)", text):
        codes.append(f"0x{0x80070000 | int(number[0] or number[1]):08X}")
    return codes


def iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


# --------------------------------------------------------------------------- determinism and layout


def test_same_arguments_write_identical_bytes(tmp_path: Path) -> None:
    Fleet.plan(12, seed=3).write_all(tmp_path / "a")
    Fleet.plan(12, seed=3).write_all(tmp_path / "b")
    Fleet.plan(12, seed=4).write_all(tmp_path / "c")
    first, second, other = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert first == second
    assert first != other


def test_a_site_is_the_same_whatever_the_fleet_size() -> None:
    small, large = Fleet.plan(5, seed=9), Fleet.plan(25, seed=9)
    assert small.end == large.end
    assert [site.events for site in small.sites] == [site.events for site in large.sites[:5]]


def test_site_codes_are_unique_three_characters() -> None:
    codes = [site_code(index) for index in range(MAX_SITES)]
    assert len(set(codes)) == MAX_SITES
    assert all(re.fullmatch(r"[A-Z][0-9]{2}", code) for code in codes)
    assert codes[:2] == ["S01", "S02"]


def test_each_site_folder_holds_its_files_and_site_json(fleet30: FleetPlan, fleet30_dir: Path) -> None:
    truth = json.loads((fleet30_dir / "truth.json").read_text("utf-8"))
    assert sorted(path.name for path in fleet30_dir.iterdir()) == sorted(
        [*(site["site"] for site in truth["sites"]), "truth.json"]
    )
    for site in truth["sites"]:
        folder = fleet30_dir / site["site"]
        assert sorted(path.name for path in folder.iterdir()) == sorted([*site["files"], "site.json"])
        meta = json.loads((folder / "site.json").read_text("utf-8"))
        assert meta == {"site": site["site"], "host": site["host"], "timezone": site["timezone"]}
    assert truth["seed"] == 7
    assert truth["start"] == "2002-10-25T06:00:00.000Z"
    assert truth["stall_window_s"] == 7200


def test_live_events_leave_the_files_write_all_writes(
    fleet30: FleetPlan, fleet30_dir: Path, tmp_path: Path
) -> None:
    previous = None
    for event in fleet30.events():
        assert previous is None or event.at >= previous
        previous = event.at
        apply_event(tmp_path, event)
    written = {name: data for name, data in tree(fleet30_dir).items() if not name.endswith(".json")}
    assert tree(tmp_path) == written


# --------------------------------------------------------------------------- truth consistency


def test_every_marker_record_gets_its_action_from_the_default_rules(fleet30: FleetPlan) -> None:
    rules = load_rules()
    for event, text in record_texts(fleet30):
        message = message_of(event.family or "plain", text)
        doc = {"message": message, "log": {"level": event.level}}
        assert rules.classify(doc) == event.action, (event.site, event.name, text)


def test_error_codes_in_the_events_are_the_ones_the_text_spells(fleet30: FleetPlan) -> None:
    for event, text in record_texts(fleet30):
        codes = hresult_in(message_of(event.family or "plain", text))
        assert (codes[:1] or [None])[0] == event.code, text


def test_truth_matches_the_records_of_each_site(fleet30: FleetPlan) -> None:
    truth = fleet30.truth()
    end = datetime.fromisoformat(truth["end"])
    window = timedelta(seconds=truth["stall_window_s"])
    for site_truth, site in zip(truth["sites"], fleet30.sites, strict=True):
        records = [event for event in site.events if event.stated_at is not None]
        assert all(fleet30.start <= event.stated_at <= end for event in records)
        starts = [event for event in records if event.action == "install.started"]
        started = datetime.fromisoformat(site_truth["started_at"])
        last = datetime.fromisoformat(site_truth["last_record_at"])
        latest = [event for event in records if event.stated_at >= started]
        actions = [event.action for event in latest]
        assert iso(starts[-1].stated_at) >= site_truth["started_at"]
        assert site_truth["started_at"] in {iso(event.stated_at) for event in starts}
        errors = [event.code for event in latest if event.code and event.level == "error"]
        outcome = site_truth["outcome"]
        if outcome == "failed_unreported":
            assert "install.failed" in actions and "install.succeeded" not in actions
            failed = next(event for event in latest if event.action == "install.failed")
            assert site_truth["failed_at"] == iso(failed.stated_at)
        elif outcome == "succeeded":
            success = next(event for event in latest if event.action == "install.succeeded")
            assert site_truth["ended_at"] == iso(success.stated_at)
            assert "install.failed" not in actions[: actions.index("install.succeeded")]
            errors = [
                e.code for e in latest if e.code and e.level == "error" and e.stated_at <= success.stated_at
            ]
        else:
            assert "install.failed" not in actions and "install.succeeded" not in actions
            assert max(event.stated_at for event in records) == last
            if outcome == "stalled":
                assert end - last > window
            else:
                assert end - last <= window
        assert site_truth["error_code"] == (errors[0] if errors else None)
        opened = sum(1 for index, event in enumerate(starts) if index == 0 or _after_end(records, event))
        assert site_truth["attempts"] == opened


def _after_end(records: list[FileEvent], start: FileEvent) -> bool:
    """Whether a start marker follows a failure or success, so it opens a new attempt."""
    before = [event.action for event in records if event.stated_at < start.stated_at]
    last_start = max(index for index, action in enumerate(before) if action == "install.started")
    return any(action in ("install.failed", "install.succeeded") for action in before[last_start:])


@pytest.mark.parametrize("stall_window_s", [600, 43200])
def test_stalls_and_attempts_in_progress_follow_the_stall_window(stall_window_s: int) -> None:
    plan = Fleet.plan(20, seed=4, stall_window_s=stall_window_s, min_span=timedelta(days=1))
    window = timedelta(seconds=stall_window_s)
    for site in plan.sites:
        silence = plan.end - datetime.fromisoformat(site.truth["last_record_at"])
        if site.outcome == "stalled":
            assert silence > window
        elif site.outcome == "in_progress":
            assert silence <= window
        assert datetime.fromisoformat(site.truth["started_at"]) >= plan.start


def test_every_outcome_and_both_retry_shapes_appear(fleet30: FleetPlan) -> None:
    sites = fleet30.truth()["sites"]
    assert Counter(site["outcome"] for site in sites).keys() == {
        "succeeded",
        "failed_unreported",
        "stalled",
        "in_progress",
    }
    retried = {site["outcome"] for site in sites if site["attempts"] >= 2}
    assert {"succeeded", "stalled"} <= retried
    assert any(site["error_code"] for site in sites if site["outcome"] == "failed_unreported")


# --------------------------------------------------------------------------- coverage of formats and traps


def all_text(folder: Path) -> dict[str, str]:
    return {name: decode_file(data) for name, data in tree(folder).items() if not name.endswith(".json")}


@pytest.mark.parametrize(
    ("what", "pattern"),
    [
        (
            "legacy layout A, hex thread",
            r"\$\$<[^>]+><\w{3} \w{3} \d{1,2} \d\d:\d\d:\d\d \d{4}~?><thread=[0-9A-F]+>",
        ),
        ("legacy layout B, daylight name", r"\.\d{3} \d{4} [A-Za-z. ]+ Daylight Time><thread="),
        ("legacy layout B, standard name", r"\.\d{3} \d{4} [A-Za-z. ]+ Standard Time><thread="),
        ("legacy layout B, no zone", r"\w{3} \w{3} \d{1,2} \d{1,2}:\d\d:\d\d\.\d{3} \d{4} ?><thread="),
        ("legacy layout B, unpadded hour", r"\w{3} \w{3} \d{1,2} \d:\d\d:\d\d\.\d{3} \d{4}"),
        (
            "legacy layout C, positive bias",
            r"<\d\d-\d\d-\d{4} \d\d:\d\d:\d\d\.\d{3}\+\d+><thread=\d+ \(0x[0-9A-F]+\)>",
        ),
        ("legacy layout C, negative bias", r"<\d\d-\d\d-\d{4} \d\d:\d\d:\d\d\.\d{3}-\d+><thread="),
        ("legacy trailer without spaces", r"[^ ]\$\$<"),
        ("tilde line breaks", r"~~  \$\$<"),
        ("32-bit unsigned thread id", r"thread=\"?[34]\d{9}"),
        ("cmtrace record", r"<!\[LOG\[.*?\]LOG\]!><time="),
        ("cmtrace multi-line message with bare LF", r"<!\[LOG\[[^\r\]]*\n[^\]]*\]LOG\]!>"),
        ("cmtrace 7-digit fraction", r'time="\d{1,2}:\d\d:\d\d\.\d{7}[+-]\d+"'),
        ("cmtrace without bias", r'time="\d{1,2}:\d\d:\d\d\.\d{3,7}"'),
        ("cmtrace unpadded hour", r'time="\d:\d\d:\d\d\.'),
        ("cmtrace type 0 and no file attribute", r'type="0" thread="\d+">'),
        ("setup style", r"(?m)^\d\d-\d\d-\d{4} \d\d:\d\d:\d\d \S"),
        ("provider style", r"(?m)^\[[0-9A-F]+\]\[\w{3} \d\d/\d\d/\d{4} \d\d:\d\d:\d\d\]:"),
        (
            "STATMSG with GMTDATE",
            r"STATMSG: ID=\d+ SEV=I .* GMTDATE=\w{3} \w{3} \d\d \d\d:\d\d:\d\d\.\d{3} \d{4} ",
        ),
        ("plain banner", r"(?m)^\*{20,}\r?$"),
        ("transient retry", r"Failed to connect to the SQL Server, retrying"),
        ("Win32 error form", r"Win32 error = \d+"),
        ("Win32 return form", r"Win32 return = \d+"),
        ("error N form", r"\berror \d+\b"),
        ("hex code form", r"\b0x8[0-9A-F]{7}\b"),
        ("failover is not a failure", r"failover"),
        (
            "failure marker",
            r"Setup has encountered fatal errors|Failed Configuration Manager Server Setup|Setup failed",
        ),
        (
            "start marker",
            r"SMS_BOOTSTRAP service started|Bootstrap service started|Configuration Manager Setup",
        ),
        (
            "success marker",
            r"Installation completed|SMS_SITE_COMPONENT_MANAGER started|SMS_EXECUTIVE started",
        ),
        ("stop marker", r"SMS_BOOTSTRAP service stopped|Bootstrap is exiting"),
        ("accented server or path", r"[ÀÂÃÉÈÍÖÜàâãéèíöü]"),
    ],
)
def test_a_30_site_fleet_writes_every_family_and_trap(fleet30_dir: Path, what: str, pattern: str) -> None:
    texts = all_text(fleet30_dir)
    assert any(re.search(pattern, text) for text in texts.values()), what


def test_every_log_name_is_written(fleet30_dir: Path) -> None:
    names = {Path(name).name for name in all_text(fleet30_dir)}
    expected = {
        "Sms_bootstrap.log",
        "Bootstrap.log",
        "SMSBootstrap.log",
        "SMS_BOOTSTRAP.log",
        "Smssetup.log",
        "ConfigMgrSetup.log",
        "ConfigMgrPrereq.log",
        "hman.log",
        "despool.log",
        "sitecomp.log",
    }
    assert expected <= names


def test_every_encoding_is_written(fleet30_dir: Path) -> None:
    files = {name: data for name, data in tree(fleet30_dir).items() if not name.endswith(".json")}
    assert any(data.startswith(b"\xff\xfe") for data in files.values())
    assert any(data.startswith(b"\xef\xbb\xbf") for data in files.values())

    def is_utf8(data: bytes) -> bool:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    plain = [data for data in files.values() if not data.startswith((b"\xff\xfe", b"\xef\xbb\xbf"))]
    assert any(not is_utf8(data) and "Données" in data.decode("cp1252") for data in plain)
    assert any(is_utf8(data) and not data.isascii() for data in plain)


def test_rotated_files_sit_beside_their_log_and_end_with_the_marker(fleet30_dir: Path) -> None:
    rotated = list(fleet30_dir.rglob("*.lo_"))
    assert rotated
    for path in rotated:
        assert path.with_suffix(".log").exists()
        assert decode_file(path.read_bytes()).endswith(ROTATION_MARKER + "\r\n")
        assert ROTATION_MARKER not in decode_file(path.with_suffix(".log").read_bytes())


def test_rotation_happens_at_the_size_limit(fleet30: FleetPlan) -> None:
    sizes: dict[tuple[str, str], int] = {}
    rotations = 0
    for event in fleet30.events():
        key = (event.site, event.name)
        if event.kind == APPEND:
            sizes[key] = sizes.get(key, 0) + len(event.data)
        else:
            rotations += 1
            # The record that did not fit follows; a record is at most ~700 bytes (UTF-16).
            assert 3000 - 700 <= sizes.pop(key) <= 4500 + len(ROTATION_MARKER) * 2 + 4
            assert rotated_name(event.name).endswith(".lo_")
    assert rotations


def test_some_sites_cross_a_dst_change_and_zones_vary(fleet30: FleetPlan, fleet30_dir: Path) -> None:
    sites = fleet30.truth()["sites"]
    assert any(site["crosses_dst"] for site in sites)
    assert len({site["timezone"] for site in sites}) >= 5
    assert any("/" in site["timezone"] for site in sites)
    assert any(site["timezone"].endswith("Standard Time") for site in sites)
    # A fall-back crossing shows in one file as both zone names (layout B) or two biases (layout C).
    texts = all_text(fleet30_dir)
    both_names = any(
        re.search(r" Daylight Time><", text) and re.search(r" Standard Time><", text)
        for text in texts.values()
    )
    two_biases = any(len(set(re.findall(r"\.\d{3}([+-]\d+)><thread", text))) > 1 for text in texts.values())
    assert both_names or two_biases


def test_both_eras_appear_and_the_start_year_picks_the_majority() -> None:
    old = Counter(site.era for site in Fleet.plan(20, seed=1).sites)
    new = Counter(site.era for site in Fleet.plan(20, seed=1, start=datetime(2016, 3, 1, tzinfo=UTC)).sites)
    assert old["sms2"] > old["configmgr"] > 0
    assert new["configmgr"] > new["sms2"] > 0


def test_a_start_far_from_any_dst_change_stretches_the_data_to_reach_one() -> None:
    plan = Fleet.plan(12, seed=2, start=datetime(2016, 6, 1, tzinfo=UTC))
    assert plan.end - plan.start > timedelta(days=2)
    assert any(site.truth["crosses_dst"] for site in plan.sites)


# --------------------------------------------------------------------------- command line


def test_command_writes_the_fleet_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fleet"
    assert (
        main(
            ["simulate", "--sites", "4", "--out", str(out), "--seed", "5", "--start", "2016-10-28T00:00:00Z"]
        )
        == 0
    )
    truth = json.loads((out / "truth.json").read_text("utf-8"))
    assert [site["site"] for site in truth["sites"]] == ["S01", "S02", "S03", "S04"]
    assert truth["start"] == "2016-10-28T00:00:00.000Z"
    assert "wrote 4 sites" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--sites", "3", "--start", "yesterday"], "--start"),
        (["--sites", "0"], "--sites"),
        (["--sites", str(MAX_SITES + 1)], "--sites"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], named: str
) -> None:
    assert main(["simulate", "--out", str(tmp_path / "x"), *arguments]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and named in err
    assert not (tmp_path / "x").exists()


def test_a_non_empty_out_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["simulate", "--sites", "2", "--out", str(tmp_path)]) == 2
    assert "--out" in capsys.readouterr().err
    assert [path.name for path in tmp_path.iterdir()] == ["keep.txt"]


# --------------------------------------------------------------------------- what the parsers make of it


def records_by_offset(plan: FleetPlan) -> dict[tuple[str, str, int], FileEvent]:
    """Where each record ends up: (site, file name on disk at the end, byte offset) -> its event."""
    sizes: dict[tuple[str, str], int] = {}
    placed: dict[tuple[str, str], dict[int, FileEvent]] = {}
    bom_length: dict[tuple[str, str], int] = {}
    for event in plan.events():
        key = (event.site, event.name)
        if event.kind == ROTATE:
            placed[(event.site, rotated_name(event.name))] = placed.pop(key, {})
            sizes.pop(key, None)
            bom_length.pop(key, None)
            continue
        if event.family is not None:
            # A byte-order mark belongs to the file's first record (every byte is in exactly one record).
            offset = sizes.get(key, 0)
            placed.setdefault(key, {})[0 if offset == bom_length.get(key) else offset] = event
        else:
            bom_length[key] = len(event.data)
        sizes[key] = sizes.get(key, 0) + len(event.data)
    return {
        (site, name, offset): event
        for (site, name), records in placed.items()
        for offset, event in records.items()
    }


Parsed = dict[str, list[tuple[str, dict]]]


def parse_fleet(plan: FleetPlan, out: Path) -> Parsed:
    """Every file of a written fleet through `parse_file` with the default rules: site -> (file, doc)."""
    from parsers.parse import parse_file

    rules = load_rules()
    return {
        site.site: [
            (path.name, doc)
            for path in sorted((out / site.site).glob("*.lo[g_]"))
            for doc in parse_file(path, site=site.site, host=site.host, timezone=site.timezone, rules=rules)
        ]
        for site in plan.sites
    }


@pytest.fixture(scope="module", params=["sms2-era", "configmgr-era"])
def parsed_fleet(
    request: pytest.FixtureRequest,
    fleet30: FleetPlan,
    fleet30_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[FleetPlan, Parsed]:
    if request.param == "sms2-era":
        return fleet30, parse_fleet(fleet30, fleet30_dir)
    # Europe falls back on 2016-10-30: layout C biases change inside the data.
    plan = Fleet.plan(12, seed=21, start=datetime(2016, 10, 28, 12, 0, tzinfo=UTC))
    out = tmp_path_factory.mktemp("configmgr")
    plan.write_all(out)
    return plan, parse_fleet(plan, out)


def test_every_record_parses_as_written(parsed_fleet: tuple[FleetPlan, Parsed]) -> None:
    plan, parsed = parsed_fleet
    expected = records_by_offset(plan)
    seen = 0
    for site, docs in parsed.items():
        for name, doc in docs:
            event = expected[(site, name, doc["log"]["offset"])]
            where = (site, name, doc["log"]["offset"], doc["event"]["original"])
            assert doc["sms"]["log"]["format"] == event.family, where
            assert doc["event"].get("action") == event.action, where
            if event.family != "plain":
                assert doc["@timestamp"] == iso(event.stated_at), where
                assert doc["log"]["level"] == event.level, where
                assert doc.get("error", {}).get("code") == event.code, where
            seen += 1
    assert seen == len(expected)


def test_the_lifecycle_tracker_judges_each_site_as_its_truth_says(
    parsed_fleet: tuple[FleetPlan, Parsed],
) -> None:
    from parsers.lifecycle.attempts import SiteTracker

    plan, parsed = parsed_fleet
    truth = plan.truth()
    end = datetime.fromisoformat(truth["end"])
    for site in truth["sites"]:
        tracker = SiteTracker(site["site"], stall_window=timedelta(seconds=truth["stall_window_s"]))
        for _name, doc in sorted(parsed[site["site"]], key=lambda item: item[1]["@timestamp"]):
            tracker.observe(doc)
        latest = tracker.latest(end)
        assert latest is not None
        judged = {
            "outcome": latest.state,
            "started_at": iso(latest.started_at),
            "ended_at": iso(latest.ended_at) if latest.ended_at else None,
            "failed_at": iso(latest.failed_at) if latest.failed_at else None,
            "last_record_at": iso(latest.last_event_at),
            "error_code": latest.error_code,
            "attempts": latest.attempt_number,
        }
        assert judged == {key: site[key] for key in judged}, site["site"]


def test_a_live_writer_catches_up_step_by_step_to_the_same_files(
    fleet30: FleetPlan, fleet30_dir: Path, tmp_path: Path
) -> None:
    writer = LiveWriter(fleet30, tmp_path)
    now = fleet30.start
    partial_seen = False
    while writer.next_at is not None:
        now += timedelta(hours=5)
        writer.advance(now)
        partial_seen = partial_seen or (writer.next_at is not None and writer.applied > 0)
    assert partial_seen
    assert writer.applied == sum(len(site.events) for site in fleet30.sites)
    written = {name: data for name, data in tree(fleet30_dir).items() if not name.endswith(".json")}
    assert tree(tmp_path) == written
