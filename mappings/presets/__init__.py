"""The mapping presets shipped with the service, one YAML file each (package data)."""
