"""core/settings.py: each MLETUI_* setting read in one place; a bad value keeps the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from mletui.core import settings
from mletui.grading.sandbox import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, GradeLimits
from mletui.run.stalls import StallThresholds
from mletui.store.runs import config_dir, mletui_home


def test_unset_settings_are_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (settings.CONFIG_DIR, settings.THEME, settings.CONTAINMENT, settings.SERVE_TOKEN):
        monkeypatch.delenv(name, raising=False)
    assert settings.config_dir() is None
    assert settings.theme() is None
    assert settings.containment() == "auto"
    assert settings.serve_token() is None
    assert settings.gpu_interval_s({}) == settings.DEFAULT_GPU_INTERVAL_S
    assert config_dir().name == "mletui"


def test_paths_are_expanded_and_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(settings.HOME, f" {tmp_path} ")
    monkeypatch.setenv(settings.CONFIG_DIR, "~/somewhere")
    assert mletui_home() == tmp_path
    assert config_dir() == Path.home() / "somewhere"


@pytest.mark.parametrize("value", ["fast", "nan", ""])
def test_a_number_that_does_not_parse_keeps_the_default(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(settings.GRADE_MEMORY_MB, value)
    monkeypatch.setenv(settings.GRADE_TIMEOUT_S, value)
    monkeypatch.setenv(settings.PACK_MAX_BYTES, value)
    monkeypatch.setenv(settings.DRIVER_STALE_S, value)
    assert GradeLimits.from_env() == GradeLimits(DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S)
    assert settings.pack_max_bytes() == settings.DEFAULT_PACK_MAX_BYTES
    assert settings.driver_stale_s() == settings.DEFAULT_DRIVER_STALE_S
    assert settings.gpu_interval_s({settings.GPU_INTERVAL: value}) == 1.0
    assert StallThresholds.from_env({settings.STALL_GPU_IDLE_MIN: value}) == StallThresholds()


def test_numbers_are_read_with_their_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.GRADE_MEMORY_MB, "0")
    monkeypatch.setenv(settings.GRADE_TIMEOUT_S, "-3")
    monkeypatch.setenv(settings.PACK_MAX_BYTES, "1024")
    monkeypatch.setenv(settings.CONTAINMENT, " SCAN ")
    assert GradeLimits.from_env() == GradeLimits(1, DEFAULT_TIMEOUT_S)
    assert settings.pack_max_bytes() == 1024
    assert settings.containment() == "scan"
    assert settings.gpu_interval_s({settings.GPU_INTERVAL: "0.01"}) == 0.1
    stalls = StallThresholds.from_env(
        {settings.STALL_GPU_IDLE_MIN: "2", settings.STALL_LOG_SILENT_MIN: "-1"}
    )
    assert (stalls.gpu_idle_s, stalls.log_silent_s) == (120.0, StallThresholds().log_silent_s)
