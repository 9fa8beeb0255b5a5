"""Loading mappings from YAML: syntax errors with line and column, shape errors with the line of the offending
key and its dotted path, and dump/load round trips; the presets as package data."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mappings import loader
from mappings.loader import UnknownPreset, dump, load, preset, preset_names, preset_text
from mappings.model import CANONICAL, EntityMap, FieldMap, Mapping, Transform
from mappings.problems import MappingError, MappingProblem
from tests.mappings.helpers import cpq_yaml, line_of


def problems_of(text: str) -> list[MappingProblem]:
    with pytest.raises(MappingError) as caught:
        load(text)
    return caught.value.problems


def test_presets_ship_as_package_data() -> None:
    assert preset_names() == ["conga_cpq", "salesforce_cpq", "standard"]
    for name in preset_names():
        mapping = preset(name)
        assert mapping.name == name
        assert set(mapping.entities) == set(CANONICAL)


def test_an_unknown_preset_is_refused_with_a_suggestion() -> None:
    with pytest.raises(UnknownPreset, match="did you mean salesforce_cpq"):
        preset_text("salesforce_cqp")


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("name: x\nentities: [a, b\nwrite_back: {}\n", 3, 11),
        ("name: x\n  entities: {}\n", 2, 11),
        ("name: 'unterminated\n", 2, 1),
        ("name: x\n\tentities: {}\n", 2, 1),
    ],
)
def test_yaml_that_does_not_parse_names_line_and_column(text: str, line: int, column: int) -> None:
    [problem] = problems_of(text)
    assert problem.message.startswith("YAML does not parse")
    assert (problem.line, problem.column) == (line, column)
    assert str(problem).startswith(f"line {line}, column {column}: YAML does not parse")


def test_a_value_that_only_looks_like_a_date_is_a_clear_error_not_a_crash() -> None:
    text = cpq_yaml(("      end_date: EndDate", "      end_date: {constant: 2026-02-30}"))
    [problem] = problems_of(text)
    assert problem.message.startswith("YAML does not parse: '2026-02-30' is not a valid timestamp")
    assert "quote it" in problem.message
    assert (problem.line, problem.column) == (line_of(text, "2026-02-30"), 28)


def test_nested_yaml_aliases_are_walked_once_not_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    # A "billion laughs": ten nested aliases of ten would make 10^10 nodes to walk one by one.
    text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, 10):
        text += f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]\n"
    walked: list[yaml.Node] = []
    walk = loader._walk

    def counting_walk(node: yaml.Node, *args: Any) -> None:
        walked.append(node)
        walk(node, *args)

    monkeypatch.setattr(loader, "_walk", counting_walk)
    problems = problems_of(text)
    # At most one step per node written in the file (the document, its ten values, their ten items each), where
    # expanding the aliases would take 10^10 steps; and every one of its 21 distinct nodes is reached.
    assert 0 < len(walked) <= 1 + 10 + 10 * 10
    assert len({id(node) for node in walked}) == 1 + 10 + 10
    assert any(p.path == "name" and "missing" in p.message for p in problems)
    recursive = problems_of("a: &a [*a]\n")
    assert any(p.path == "a" for p in recursive)


@pytest.mark.parametrize(("text", "message"), [("", "the file is empty"), ("- a\n- b\n", "a mapping is a YAML")])
def test_empty_or_non_mapping_yaml_is_refused(text: str, message: str) -> None:
    [problem] = problems_of(text)
    assert problem.message.startswith(message)
    assert problem.line == 1


def test_shape_errors_give_the_line_of_the_offending_key_and_its_path() -> None:
    text = cpq_yaml(
        ("      end_date: EndDate\n", "      end_date: {field: EndDate, constant: 5}\n"),
        ("      status: SBQQ__Status__c\n", "      state: SBQQ__Status__c\n"),
        ("    source: Document\n", "    source: Dropbox\n"),
        ("      record: renewal_quote\n", "      recrd: renewal_quote\n"),
        ("bulk_threshold: 10000", "bulk_threshold: -1"),
        ("    priority: Normal\n", "    priority: Normal\n    colour: blue\n"),
    )
    problems = {p.path: p for p in problems_of(text)}
    assert set(problems) == {
        "entities.contract.fields.end_date",
        "entities.renewal_quote.fields.state",
        "entities.quote_document.source",
        "write_back.renew.0.recrd",
        "write_back.renew.0.record",
        "bulk_threshold",
        "write_back.tasks.colour",
    }
    end_date = problems["entities.contract.fields.end_date"]
    assert end_date.line == line_of(text, "end_date: {field: EndDate")
    assert "exactly one of `field` or `constant`" in end_date.message
    state = problems["entities.renewal_quote.fields.state"]
    assert (state.line, state.suggestion) == (line_of(text, "state: SBQQ__Status__c"), "status")
    recrd = problems["write_back.renew.0.recrd"]
    assert (recrd.message, recrd.suggestion) == ("unknown key 'recrd'", "record")
    assert recrd.line == line_of(text, "recrd:")
    # A missing key has no line of its own: it gets its parent's.
    assert problems["write_back.renew.0.record"].line == line_of(text, "- object: SBQQ__Quote__c")
    assert problems["write_back.tasks.colour"].line == line_of(text, "colour: blue")
    assert problems["bulk_threshold"].line == line_of(text, "bulk_threshold")
    assert problems["entities.quote_document.source"].line == line_of(text, "source: Dropbox")
    assert [p.line for p in problems_of(text)] == sorted(p.line or 0 for p in problems_of(text))


def test_unknown_and_missing_entities_and_fields_each_get_their_own_line() -> None:
    text = cpq_yaml(("  quote_line:\n", "  quote_lines:\n"), ("      number: ContractNumber\n", ""))
    problems = {p.path: p for p in problems_of(text)}
    assert problems["entities.quote_lines"].line == line_of(text, "quote_lines:")
    assert problems["entities.quote_lines"].suggestion == "quote_line"
    assert problems["entities"].message == "entities missing: quote_line"
    missing = problems["entities.contract.fields"]
    assert missing.message == "required fields not mapped: number"
    assert missing.line == line_of(text, "scope: \"Status = 'Activated'\"") + 1  # the contract's `fields:`


def test_duplicate_keys_are_refused_rather_than_silently_overwritten() -> None:
    text = cpq_yaml(("      end_date: EndDate\n", "      end_date: EndDate\n      end_date: StartDate\n"))
    [problem] = problems_of(text)
    assert problem.path == "entities.contract.fields.end_date"
    assert problem.line == line_of(text, "end_date: StartDate")
    assert f"first on line {line_of(text, 'end_date: EndDate')}" in problem.message


def test_loaded_mappings_remember_the_line_of_each_key() -> None:
    text = preset_text("salesforce_cpq")
    mapping = load(text)
    assert mapping.line_of("entities.contract.fields.end_date") == line_of(text, "end_date: EndDate")
    assert mapping.line_of("write_back.renew.1.set.StageName") == line_of(text, "set: {StageName: Closed Won}")
    assert mapping.line_of("write_back.tasks.external_id_field") == line_of(text, "external_id_field:")
    # A key that is not written falls back to its nearest written ancestor.
    assert mapping.line_of("entities.contract.source") == line_of(text, "  contract:")


@pytest.mark.parametrize("name", ["salesforce_cpq", "conga_cpq", "standard"])
def test_presets_round_trip_through_dump(name: str) -> None:
    mapping = preset(name)
    text = dump(mapping)
    assert load(text) == mapping
    assert dump(load(text)) == text


def test_dump_is_stable_and_uses_the_short_form() -> None:
    fields = {
        entity: EntityMap(
            object="X__c",
            fields={
                name: FieldMap(field=f"{name.title()}__c") if spec.type != "bool" else FieldMap(constant=False)
                for name, spec in CANONICAL[entity].items()
                if spec.required or spec.type == "bool"
            },
        )
        for entity in CANONICAL
    }
    fields["contract"].fields["end_date"] = FieldMap(field="End__c", transform=Transform(date_format="%d.%m.%Y"))
    mapping = Mapping(name="built_in_code", entities=fields)
    text = dump(mapping)
    assert load(text) == mapping
    assert "      number: Number__c\n" in text
    assert "      end_date:\n        field: End__c\n        transform:\n          date_format: '%d.%m.%Y'\n" in text
    assert text.index("name:") < text.index("entities:")
    assert dump(mapping) == text


def test_constants_and_dates_survive_the_round_trip() -> None:
    text = cpq_yaml(("      start_date: StartDate\n", "      start_date: {constant: 2026-01-31}\n"))
    mapping = load(text)
    assert load(dump(mapping)) == mapping
