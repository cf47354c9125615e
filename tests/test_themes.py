"""Themes: bundled TOML files, user overrides, broken-file warnings and the real Textual app."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.color import Color
from textual.theme import Theme
from textual.widgets import Label

from mletui.tui.theming import (
    DEFAULT_THEME,
    load_themes,
    pick_theme,
    register_themes,
    user_theme_dir,
)

GOOD_EXTRA = """
name = "night-shift"
primary = "#FF8800"
background = "#101010"
dark = true

[variables]
"footer-key-foreground" = "#FF8800"
"""


def write(folder: Path, filename: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(text, encoding="utf-8")
    return path


def by_name(themes: list[Theme]) -> dict[str, Theme]:
    return {theme.name: theme for theme in themes}


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio between two colours."""

    def luminance(text: str) -> float:
        def channel(value: int) -> float:
            c = value / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = Color.parse(text).rgb
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_bundled_themes_load_as_valid_themes() -> None:
    themes, warnings = load_themes(None)

    assert warnings == []
    named = by_name(themes)
    assert {"mletui-dark", "mletui-light"} <= set(named)
    assert DEFAULT_THEME == "mletui-dark"
    assert all(isinstance(theme, Theme) for theme in themes)
    assert named["mletui-dark"].dark is True
    assert named["mletui-light"].dark is False
    for theme in themes:
        theme.to_color_system().generate()  # raises if Textual cannot use it


def test_bundled_themes_are_readable() -> None:
    named = by_name(load_themes(None)[0])
    for name in ("mletui-dark", "mletui-light"):
        theme = named[name]
        assert theme.foreground is not None and theme.background is not None
        assert contrast(theme.foreground, theme.background) >= 7, name
        for status in (theme.primary, theme.success, theme.warning, theme.error):
            assert status is not None
            assert contrast(status, theme.background) >= 3, (name, status)


def test_user_theme_adds_a_new_name(tmp_path: Path) -> None:
    write(tmp_path, "night-shift.toml", GOOD_EXTRA)

    themes, warnings = load_themes(tmp_path)

    assert warnings == []
    named = by_name(themes)
    assert {"mletui-dark", "mletui-light", "night-shift"} <= set(named)
    assert named["night-shift"].primary == "#FF8800"
    assert named["night-shift"].variables == {"footer-key-foreground": "#FF8800"}


def test_user_theme_overrides_a_bundled_one(tmp_path: Path) -> None:
    write(tmp_path, "mine.toml", 'name = "mletui-dark"\nprimary = "#00FF00"\n')

    themes, warnings = load_themes(tmp_path)

    assert warnings == []
    assert [theme.name for theme in themes].count("mletui-dark") == 1
    assert by_name(themes)["mletui-dark"].primary == "#00FF00"


def test_missing_user_dir_is_not_an_error(tmp_path: Path) -> None:
    themes, warnings = load_themes(tmp_path / "does-not-exist")

    assert warnings == []
    assert {"mletui-dark", "mletui-light"} <= set(by_name(themes))


@pytest.mark.parametrize(
    ("filename", "text", "problem"),
    [
        ("broken.toml", 'name = "broken"\nprimary = \n', "not valid TOML"),
        ("bad-colour.toml", 'name = "bad-colour"\nprimary = "#12345"\n', "not a colour"),
        ("nameless.toml", 'primary = "#336699"\n', 'missing "name"'),
        ("typo.toml", 'name = "typo"\nprimary = "#336699"\nprimray = "#fff"\n', "unknown field"),
        ("flag.toml", 'name = "flag"\nprimary = "#336699"\ndark = "yes"\n', "true or false"),
    ],
)
def test_each_broken_file_gives_one_line_warning(
    tmp_path: Path, filename: str, text: str, problem: str
) -> None:
    write(tmp_path, filename, text)
    write(tmp_path, "night-shift.toml", GOOD_EXTRA)

    themes, warnings = load_themes(tmp_path)

    assert len(warnings) == 1
    (warning,) = warnings
    assert "\n" not in warning
    assert filename in warning
    assert problem in warning
    assert {"mletui-dark", "mletui-light", "night-shift"} <= set(by_name(themes))


def test_several_broken_files_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "a-broken.toml", "name = [\n")
    write(tmp_path, "b-bad-colour.toml", 'name = "b"\nprimary = "not-a-colour"\n')
    write(tmp_path, "c-nameless.toml", 'primary = "#336699"\n')
    write(tmp_path, "night-shift.toml", GOOD_EXTRA)
    write(tmp_path, "notes.txt", "not a theme, ignored")

    themes, warnings = load_themes(tmp_path)

    assert len(warnings) == 3
    assert [w.split(":")[0] for w in warnings] == [
        str(tmp_path / "a-broken.toml"),
        str(tmp_path / "b-bad-colour.toml"),
        str(tmp_path / "c-nameless.toml"),
    ]
    assert all("\n" not in warning for warning in warnings)
    assert "night-shift" in by_name(themes)


def test_user_theme_dir_follows_config_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLETUI_CONFIG_DIR", str(tmp_path))
    assert user_theme_dir() == tmp_path / "themes"

    monkeypatch.delenv("MLETUI_CONFIG_DIR")
    assert user_theme_dir().name == "themes"
    assert "mletui" in user_theme_dir().parts


def test_pick_theme_uses_known_names() -> None:
    available = {"mletui-dark", "mletui-light"}

    assert pick_theme(None, available) == (DEFAULT_THEME, None)
    assert pick_theme("", available) == (DEFAULT_THEME, None)
    assert pick_theme("mletui-light", available) == ("mletui-light", None)
    assert pick_theme("nord", available) == ("nord", None)  # a Textual built-in


def test_pick_theme_falls_back_on_unknown_name() -> None:
    name, warning = pick_theme("no-such-theme", {"mletui-dark", "mletui-light"})

    assert name == DEFAULT_THEME
    assert warning is not None
    assert "\n" not in warning
    assert "no-such-theme" in warning
    assert "mletui-light" in warning and "textual-dark" in warning


class ThemedApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Label("hello")


@pytest.mark.asyncio
async def test_app_registers_and_switches_themes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLETUI_CONFIG_DIR", str(tmp_path))
    write(tmp_path / "themes", "night-shift.toml", GOOD_EXTRA)
    write(tmp_path / "themes", "broken.toml", "name = \n")
    app = ThemedApp()

    async with app.run_test() as pilot:
        warnings = register_themes(app)
        assert len(warnings) == 1 and "broken.toml" in warnings[0]

        name, warning = pick_theme("mletui-light", set(app.available_themes))
        assert warning is None
        app.theme = name
        await pilot.pause()
        assert app.current_theme.name == "mletui-light"
        assert app.current_theme.dark is False
        assert app.get_css_variables()["background"].upper() == "#F6F8FA"
        assert app.has_class("-light-mode")

        app.theme = "night-shift"
        await pilot.pause()
        assert app.current_theme.name == "night-shift"
        assert app.has_class("-dark-mode")
