"""The reminder cadence in force, and the checks of a cadence an admin edits in the console.

Stored as ``{"yaml": <the cadence file's text>}`` and checked as strictly as the file; without it,
``RENEWALS_CADENCE_FILE`` applies (read on every use, so an edit of the file applies at once too). The planning
job and ``renewals plan`` read it here, never the file directly. The console edits it two ways: the stages of
each segment as comma-separated days (:func:`stage_fields`, :func:`check_stages`; the segments' rules are kept)
or the whole text (:func:`check_cadence_text`). Nothing here stores: see
:mod:`sync_service.console_settings.store`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy.orm import Session

from config.settings import Settings
from sync_service.console_settings.store import CADENCE, SettingProblems, stored
from sync_service.console_settings.typed_numbers import whole_number
from sync_service.planning.cadence import (
    DEFAULT_SEGMENT,
    Cadence,
    CadenceError,
    load_cadence,
    parse_cadence_text,
    read_yaml,
)

# Where the console's cadence says it comes from, in error messages.
CADENCE_SOURCE = "the admin console's cadence"
MAX_CADENCE_CHARS = 20_000


def cadence_text(session: Session, settings: Settings) -> str:
    """The cadence in force, as YAML: the console's, else the cadence file's text."""
    value = stored(session, CADENCE)
    if value is not None:
        return str(value["yaml"])
    return settings.cadence_file.read_text(encoding="utf-8")


def cadence(session: Session, settings: Settings) -> Cadence:
    """The cadence in force: the console's, else RENEWALS_CADENCE_FILE (read now, so an edit applies at once).
    Raises CadenceError when it cannot be used (the file was broken since start)."""
    value = stored(session, CADENCE)
    if value is None:
        return load_cadence(settings.cadence_file)
    return parse_cadence_text(str(value["yaml"]), source=CADENCE_SOURCE)


def check_cadence_text(text: str) -> dict[str, Any]:
    """The value to store for a whole cadence typed as YAML; raises SettingProblems (field ``yaml``)."""
    text = text.replace("\r\n", "\n")
    if not text.strip():
        raise SettingProblems({"yaml": "the cadence is empty; it needs at least a `default:` section"})
    if len(text) > MAX_CADENCE_CHARS:
        raise SettingProblems({"yaml": f"{len(text):,} characters; a cadence fits in {MAX_CADENCE_CHARS:,}"})
    try:
        parse_cadence_text(text, source=CADENCE_SOURCE)
    except CadenceError as exc:
        raise SettingProblems({"yaml": "; ".join(exc.problems)}) from exc
    return {"yaml": text if text.endswith("\n") else text + "\n"}


@dataclass(frozen=True)
class StageFields:
    """One segment's stages as the form shows them (days, comma-separated)."""

    segment: str
    days_before_end: str
    days_after_end: str


def stage_fields(parsed: Cadence) -> list[StageFields]:
    """The default segment's and each named segment's stages, for the per-stage form (default first)."""
    out = []
    for segment in (parsed.default, *parsed.segments[:-1]):
        before = sorted((-o for o in segment.offsets if o < 0), reverse=True)
        after = sorted(o for o in segment.offsets if o >= 0)
        out.append(StageFields(segment.name, ", ".join(map(str, before)), ", ".join(map(str, after))))
    return out


def check_stages(current_text: str, catch_up_days: str, stages: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    """The value to store when the per-stage form changes the stages of the cadence `current_text`.

    `stages` maps a segment's name (``default`` too) to the days before and after its end date as typed; the
    segments' rules stay as they are (they are edited as YAML). Problems are keyed ``catch_up_days`` and
    ``<segment>.days_before_end``/``<segment>.days_after_end``; raises SettingProblems.
    """
    data = read_yaml(current_text)
    if not isinstance(data, dict):
        raise SettingProblems({"yaml": "the cadence in force is not a mapping; edit it as YAML"})
    data = copy.deepcopy(data)
    problems: dict[str, str] = {}
    days = whole_number(catch_up_days, "catch_up_days", 0, 10**6, problems)
    if "catch_up_days" not in problems:
        data["catch_up_days"] = days
    sections: dict[str, dict[str, Any]] = {}
    if isinstance(data.get("default"), dict):
        sections[DEFAULT_SEGMENT] = data["default"]
    for section in data.get("segments") or []:
        if isinstance(section, dict) and isinstance(section.get("name"), str):
            sections[section["name"]] = section
    for name, (before, after) in stages.items():
        section = sections.get(name)
        if section is None:
            problems[f"{name}.days_before_end"] = f"there is no segment {name!r} in the cadence any more; reload"
            continue
        for key, raw in (("days_before_end", before), ("days_after_end", after)):
            numbers = _day_list(raw, f"{name}.{key}", problems)
            if numbers:
                section[key] = numbers
            else:
                section.pop(key, None)
    if not problems:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        try:
            parse_cadence_text(text, source=CADENCE_SOURCE)
        except CadenceError as exc:
            problems.update(_cadence_fields(exc.problems, data))
        else:
            return {"yaml": text}
    raise SettingProblems(problems)


def _day_list(raw: str, field: str, problems: dict[str, str]) -> list[int]:
    parts = [part for part in re.split(r"[\s,;]+", raw.strip()) if part]
    bad = [part for part in parts if not re.fullmatch(r"\d{1,6}", part)]
    if bad:
        problems[field] = f"{', '.join(map(repr, bad))}: write whole numbers of days, e.g. 90, 60, 30"
        return []
    return [int(part) for part in parts]


def _cadence_fields(problems: list[str], data: Mapping[str, Any]) -> dict[str, str]:
    """parse_cadence's problems ("segments[1].days_before_end: ...") keyed by the per-stage form's fields."""
    names = [s.get("name") if isinstance(s, dict) else None for s in data.get("segments") or []]
    out: dict[str, str] = {}
    for problem in problems:
        where, _, _ = problem.partition(": ")
        segment, _, key = where.partition(".")
        if (match := re.fullmatch(r"segments\[(\d+)\]", segment)) and int(match.group(1)) < len(names):
            segment = str(names[int(match.group(1))])
        if segment == "catch_up_days":
            field = "catch_up_days"
        elif "before and after the end date are the same stage" in problem:
            field = f"{segment}.days_after_end"  # the second list named it; the first is fine alone
        else:
            field = f"{segment}.{key if key in ('days_before_end', 'days_after_end') else 'days_before_end'}"
        out[field] = f"{out[field]}; {problem}" if field in out else problem
    return out
