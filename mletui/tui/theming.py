"""Colour themes: TOML data files turned into Textual `Theme` objects.

Bundled themes live in the top-level `themes/` folder (packaged into the wheel); users add or
override themes by dropping `*.toml` files into `user_theme_dir()`. A broken file never stops the
app: it becomes a one-line warning and the remaining themes still load."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from textual.app import App
from textual.color import Color, ColorParseError
from textual.theme import BUILTIN_THEMES, Theme

from mletui.core import settings
from mletui.core.words import noun_for
from mletui.store.runs import config_dir

DEFAULT_THEME = "mletui-dark"
"""Theme used when none is requested or the requested one is unknown."""


def bundled_themes_dir() -> Path:
    """The bundled themes: `mletui/themes/` in an installed wheel, `themes/` in a checkout."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "themes"
    return installed if installed.is_dir() else package.parent / "themes"


THEME_ENV = settings.THEME

# Textual's own default, used only if the bundled default theme itself failed to load.
_LAST_RESORT_THEME = "textual-dark"

_COLOUR_FIELDS = frozenset(
    {
        "primary",
        "secondary",
        "accent",
        "foreground",
        "background",
        "surface",
        "panel",
        "boost",
        "success",
        "warning",
        "error",
    }
)
_BOOL_FIELDS = frozenset({"dark", "ansi"})
_FLOAT_FIELDS = frozenset({"luminosity_spread", "text_alpha"})
_THEME_FIELDS = frozenset(field.name for field in dataclasses.fields(Theme))

# The name becomes a CSS class (`-theme-<name>`) on the app, so keep it class-safe.
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_VARIABLE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class ThemeFileError(ValueError):
    """A theme file that cannot become a `Theme`; the message is one line for the user."""


def user_theme_dir() -> Path:
    """Return the folder scanned for user theme files.

    `$MLETUI_CONFIG_DIR/themes` when that variable is set, otherwise the platform's user
    config folder for mletui (e.g. `~/.config/mletui/themes` on Linux).
    """
    return config_dir() / "themes"


def theme_from_mapping(data: Mapping[str, Any]) -> Theme:
    """Build a `Theme` from a parsed TOML table, checking every field.

    Raises:
        ThemeFileError: If a field is unknown, missing or has a bad value.
    """
    unknown = sorted(set(data) - _THEME_FIELDS)
    if unknown:
        known = ", ".join(sorted(_THEME_FIELDS))
        fields = noun_for(len(unknown), "field")
        raise ThemeFileError(f"unknown {fields} {', '.join(unknown)}; known fields: {known}")

    name = data.get("name")
    if name is None:
        raise ThemeFileError('missing "name" (e.g. name = "my-theme")')
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise ThemeFileError(f'"name" must be letters, digits, "-" or "_" (got {name!r})')
    if "primary" not in data:
        raise ThemeFileError('missing "primary" colour (e.g. primary = "#4FB8F0")')

    for key, value in data.items():
        if key in _COLOUR_FIELDS:
            _check_colour(key, value)
        elif key in _BOOL_FIELDS and not isinstance(value, bool):
            raise ThemeFileError(f'"{key}" must be true or false (got {value!r})')
        elif key in _FLOAT_FIELDS and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise ThemeFileError(f'"{key}" must be a number (got {value!r})')

    variables = data.get("variables", {})
    if not isinstance(variables, Mapping):
        raise ThemeFileError('"variables" must be a table of name = "value" pairs')
    for var_name, var_value in variables.items():
        if not _VARIABLE_PATTERN.match(var_name):
            raise ThemeFileError(f"variable name {var_name!r} is not a valid CSS variable name")
        if not isinstance(var_value, str):
            raise ThemeFileError(f'variable "{var_name}" must be a string (got {var_value!r})')

    theme = Theme(**{**data, "variables": dict(variables)})
    try:
        # Derive the full colour system now so a bad combination fails here, not mid-render.
        theme.to_color_system().generate()
    except Exception as error:  # any failure here means the theme is unusable
        raise ThemeFileError(f"colours cannot be combined: {error}") from error
    return theme


def load_theme_text(text: str) -> Theme:
    """Parse one theme file's TOML text into a `Theme`.

    Raises:
        ThemeFileError: If the text is not valid TOML or not a valid theme.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ThemeFileError(f"not valid TOML: {error}") from error
    return theme_from_mapping(data)


def load_themes(user_dir: Path | None) -> tuple[list[Theme], list[str]]:
    """Load the bundled themes, then the user's `*.toml` themes from `user_dir`.

    A user theme with a new name is added; one with an existing name replaces it.
    `user_dir=None`, or a folder that does not exist, loads only the bundled themes.

    Returns:
        The themes (unique names, bundled first) and one one-line warning per broken file.
    """
    themes: dict[str, Theme] = {}
    warnings: list[str] = []

    bundled_files = list(bundled_themes_dir().glob("*.toml"))
    _load_files(
        sorted(bundled_files, key=lambda entry: entry.name),
        label=lambda entry: f"bundled theme {entry.name}",
        themes=themes,
        warnings=warnings,
    )

    if user_dir is not None and user_dir.exists():
        if not user_dir.is_dir():
            warnings.append(f"{user_dir}: expected a folder of theme .toml files, found a file")
        else:
            try:
                user_files = sorted(user_dir.glob("*.toml"))
            except OSError as error:
                warnings.append(_one_line(f"{user_dir}: cannot list theme files: {error}"))
                user_files = []
            _load_files(user_files, label=str, themes=themes, warnings=warnings)

    return list(themes.values()), warnings


def register_themes(app: App[Any], user_dir: Path | None = None) -> list[str]:
    """Register the bundled and user themes on `app`.

    Args:
        app: The app to register the themes with.
        user_dir: Folder of user theme files; `None` means `user_theme_dir()`.

    Returns:
        One one-line warning per theme file that could not be loaded.
    """
    themes, warnings = load_themes(user_theme_dir() if user_dir is None else user_dir)
    for theme in themes:
        app.register_theme(theme)
    return warnings


def pick_theme(requested: str | None, available: set[str]) -> tuple[str, str | None]:
    """Choose the theme to start with.

    Args:
        requested: Name from `--theme NAME` or `$MLETUI_THEME`, or `None`.
        available: Registered theme names (Textual's built-in themes are always valid).

    Returns:
        The theme name to use, and a one-line warning if `requested` was unknown.
    """
    known = available | set(BUILTIN_THEMES)
    default = DEFAULT_THEME if DEFAULT_THEME in known else _LAST_RESORT_THEME
    wanted = (requested or "").strip()
    if not wanted:
        return default, None
    if wanted in known:
        return wanted, None
    names = ", ".join(sorted(known))
    return default, f"Unknown theme {wanted!r}; using {default!r}. Available themes: {names}"


def _load_files(
    files: Iterable[Path],
    *,
    label: Callable[[Path], str],
    themes: dict[str, Theme],
    warnings: list[str],
) -> None:
    for source in files:
        try:
            theme = load_theme_text(source.read_text(encoding="utf-8"))
        except ThemeFileError as error:
            warnings.append(_one_line(f"{label(source)}: {error}"))
        except (OSError, UnicodeDecodeError) as error:
            warnings.append(_one_line(f"{label(source)}: cannot read file: {error}"))
        else:
            themes[theme.name] = theme


def _check_colour(key: str, value: object) -> None:
    if not isinstance(value, str):
        raise ThemeFileError(f'"{key}" must be a colour string like "#4FB8F0" (got {value!r})')
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(
            f'"{key}" = {value!r} is not a colour; use "#RRGGBB", "rgb(r, g, b)" or a colour name'
        ) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())
