"""Bundled colour themes, one TOML file per theme (read by `mletui.tui.theming`)."""
