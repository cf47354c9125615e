"""The SGR parser: real colour output of pytest, tqdm and Rich keeps exactly its styles, and
nothing but plain text and those styles survives."""

from __future__ import annotations

import pytest

from mletui.core.ansi import MAX_SGR_PER_LINE, Sgr, apply_sgr, styled_line
from mletui.core.sanitize import MAX_DISPLAY_CHARS, clean_line

RED, GREEN, YELLOW, BLUE, CYAN = 1, 2, 3, 4, 6
BOLD_RED = Sgr(fg=RED, bold=True)

# Bytes as the tools wrote them (pytest 8 --color=yes, tqdm with colour="green", Rich 13
# tracebacks and markup on a 256-colour terminal).
REAL = [
    (
        "pytest summary",
        b"\x1b[31m\x1b[31m\x1b[1m1 failed\x1b[0m, \x1b[32m1 passed\x1b[0m, \x1b[33m1 warning"
        b"\x1b[0m\x1b[31m in 0.12s\x1b[0m\x1b[0m",
        "1 failed, 1 passed, 1 warning in 0.12s",
        [
            (0, 8, BOLD_RED),
            (10, 18, Sgr(fg=GREEN)),
            (20, 29, Sgr(fg=YELLOW)),
            (29, 38, Sgr(fg=RED)),
        ],
    ),
    (
        "pytest assertion",
        b"\x1b[1m\x1b[31mE       assert 1 == 2\x1b[0m",
        "E       assert 1 == 2",
        [(0, 21, BOLD_RED)],
    ),
    (
        "pytest short summary",
        b"\x1b[31mFAILED\x1b[0m test_x.py::\x1b[1mtest_bad\x1b[0m - assert 1 == 2",
        "FAILED test_x.py::test_bad - assert 1 == 2",
        [(0, 6, Sgr(fg=RED)), (18, 26, Sgr(bold=True))],
    ),
    (
        "pytest source (pygments)",
        b"    \x1b[0m\x1b[94mdef\x1b[39;49;00m\x1b[90m \x1b[39;49;00m"
        b"\x1b[92mtest_bad\x1b[39;49;00m():",
        "    def test_bad():",
        [(4, 7, Sgr(fg=12)), (7, 8, Sgr(fg=8)), (8, 16, Sgr(fg=10))],
    ),
    (
        "pytest section header",
        b"\x1b[36m\x1b[1m=== short test summary info ===\x1b[0m",
        "=== short test summary info ===",
        [(0, 31, Sgr(fg=CYAN, bold=True))],
    ),
    (
        "tqdm coloured bar, rewritten",
        b" 50%|\x1b[32m\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88     \x1b[0m"
        b"| 50/100 [00:01<00:01, 49.9it/s]\r100%|\x1b[32m\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88"
        b"\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88\xe2\x96\x88"
        b"\x1b[0m| 100/100 [00:02<00:00, 49.9it/s]",
        "100%|" + "\u2588" * 10 + "| 100/100 [00:02<00:00, 49.9it/s]",
        [(5, 15, Sgr(fg=GREEN))],
    ),
    (
        "tqdm nested bar moves the cursor",
        b"\x1b[A\x1b[A\r inner: 30%|\x1b[38;2;0;128;255m\xe2\x96\x88\xe2\x96\x88\x1b[0m|",
        " inner: 30%|\u2588\u2588|",
        [(12, 14, Sgr(fg=(0, 128, 255)))],
    ),
    (
        "rich traceback header",
        b"\x1b[31m\xe2\x95\xad\xe2\x94\x80\x1b[0m\x1b[31m \x1b[0m\x1b[1;31mTraceback \x1b[0m"
        b"\x1b[1;2;31m(most recent call last)\x1b[0m",
        "\u256d\u2500 Traceback (most recent call last)",
        [(0, 3, Sgr(fg=RED)), (3, 13, BOLD_RED), (13, 36, Sgr(fg=RED, bold=True, dim=True))],
    ),
    (
        "rich traceback error",
        b"\x1b[1;91mKeyError: \x1b[0m\x1b[32m'missing'\x1b[0m",
        "KeyError: 'missing'",
        [(0, 10, Sgr(fg=9, bold=True)), (10, 19, Sgr(fg=GREEN))],
    ),
    (
        "rich markup",
        b"\x1b[1;33mwarning:\x1b[0m \x1b[3mslow\x1b[0m \x1b[4mlink\x1b[0m \x1b[9mgone\x1b[0m",
        "warning: slow link gone",
        [
            (0, 8, Sgr(fg=YELLOW, bold=True)),
            (9, 13, Sgr(italic=True)),
            (14, 18, Sgr(underline=True)),
            (19, 23, Sgr(strike=True)),
        ],
    ),
    (
        "256 colours and backgrounds",
        b"\x1b[38;5;208;48;5;17mX\x1b[49mY\x1b[39;7mZ\x1b[27;104mW",
        "XYZW",
        [
            (0, 1, Sgr(fg=208, bg=17)),
            (1, 2, Sgr(fg=208)),
            (2, 3, Sgr(reverse=True)),
            (3, 4, Sgr(bg=12)),
        ],
    ),
    (
        "colon forms",
        b"\x1b[38:2::10:20:30mA\x1b[38:5:33mB\x1b[4:3mC",
        "ABC",
        [(0, 1, Sgr(fg=(10, 20, 30))), (1, 2, Sgr(fg=33)), (2, 3, Sgr(fg=33, underline=True))],
    ),
]


@pytest.mark.parametrize(("raw", "text", "spans"), [r[1:] for r in REAL], ids=[r[0] for r in REAL])
def test_real_colour_output_keeps_exactly_its_styles(
    raw: bytes, text: str, spans: list[tuple[int, int, Sgr]]
) -> None:
    got_text, got_spans = styled_line(raw)
    assert got_text == text
    assert got_text == clean_line(raw)  # the same text the sanitiser alone gives
    assert list(got_spans) == spans


HOSTILE = [
    ("osc title", b"\x1b]0;pwned\x07a\x1b[31mb", "ab", [(1, 2, Sgr(fg=RED))]),
    ("osc 8 link", b"\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link", []),
    ("dcs", b"\x1bPq#0;2;0;0;0\x1b\\x", "x", []),
    ("cursor moves", b"\x1b[2J\x1b[H\x1b[10;10Hx\x1b[?25l\x1b[6n", "x", []),
    ("private sgr-looking", b"\x1b[?31mx\x1b[>4;2m", "x", []),
    ("intermediate", b"\x1b[1 mx\x1b[31$m", "x", []),
    ("8-bit csi", b"\xc2\x9b31mx", "x", []),
    ("colour out of range", b"\x1b[38;5;999mx\x1b[38;2;300;0;0my\x1b[38;5mz", "xyz", []),
    ("blink and conceal dropped", b"\x1b[5;8mhidden", "hidden", []),
    ("sgr cut short", b"\x1b[31", "", []),
    ("esc before sgr", b"\x1b\x1b[31mx", "x", [(0, 1, Sgr(fg=RED))]),
    ("osc holding sgr", b"\x1b]0;\x1b[32mtitle\x07", "title", [(0, 5, Sgr(fg=GREEN))]),
    ("bidi override", b"\x1b[31m\xe2\x80\xaeevil", "<U+202E>evil", [(0, 12, Sgr(fg=RED))]),
    ("markup", b"\x1b[31m[bold]x[/]", "[bold]x[/]", [(0, 10, Sgr(fg=RED))]),
]


@pytest.mark.parametrize(
    ("raw", "text", "spans"), [r[1:] for r in HOSTILE], ids=[r[0] for r in HOSTILE]
)
def test_only_sgr_survives_as_style(
    raw: bytes, text: str, spans: list[tuple[int, int, Sgr]]
) -> None:
    got_text, got_spans = styled_line(raw)
    assert got_text == text
    assert got_text.isprintable()
    assert list(got_spans) == spans


def test_hundred_parameters_read_sanely() -> None:
    body = ";".join(["1", "31"] * 50).encode()
    assert apply_sgr(Sgr(), body) == BOLD_RED
    text, spans = styled_line(b"\x1b[" + b";" * 300 + b"31mx")  # too long to be SGR: dropped
    assert (text, spans) == ("x", ())


def test_tabs_keep_their_stops_across_colours() -> None:
    raw = b"ab\x1b[31mc\tz"
    assert styled_line(raw)[0] == clean_line(raw) == "abc     z"


def test_megabyte_of_sgr_is_cut_and_bounded() -> None:
    raw = b"\x1b[31mx\x1b[32my" * (1 << 16)  # 1 MiB
    text, spans = styled_line(raw)
    assert text == ("xy" * MAX_DISPLAY_CHARS)[:MAX_DISPLAY_CHARS] + f" … [cut: {len(raw):,} bytes]"
    assert len(spans) == MAX_DISPLAY_CHARS
    assert all(end <= MAX_DISPLAY_CHARS for _, end, _ in spans)
    only_sgr = b"\x1b[31m" * (1 << 18)
    assert styled_line(only_sgr) == ("", ())
    many = b"\x1b[31mx" * (MAX_SGR_PER_LINE + 10)
    text, spans = styled_line(many, max_chars=None)
    assert text == "x" * (MAX_SGR_PER_LINE + 10)
    assert spans == ((0, MAX_SGR_PER_LINE + 10, Sgr(fg=RED)),)


def test_line_without_escape_is_clean_line() -> None:
    raw = b"caf\xe9\tx\r100%"
    assert styled_line(raw) == (clean_line(raw), ())
