"""Field mappings: where each canonical renewal field lives in one org, and what the service writes back.

- `model`: the schema (pydantic) and the canonical model; `problems`: how problems are reported.
- `loader`: YAML in and out, with the line of every key; the shipped presets (`presets/*.yaml`).
- `validate` (with `orgshape`, `typecheck`, `writeback`): checking a mapping against an org's describe();
  `org`: the same through a simple-salesforce client.
- `soql`: the queries the pull runs; `cli`: `renewals mappings ...`.
"""
