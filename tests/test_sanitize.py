"""Hostile agent output in, plain safe text out: exact expected text for each attack."""

from __future__ import annotations

import random

import pytest
from rich.text import Text

from mletui.core.sanitize import MAX_DISPLAY_CHARS, clean_line, clean_text, cut_marker

HOSTILE: list[tuple[str, bytes, str]] = [
    ("plain", b"epoch 1 loss 0.25", "epoch 1 loss 0.25"),
    ("empty", b"", ""),
    ("osc 0 title, BEL", b"\x1b]0;pwned title\x07hello", "hello"),
    ("osc 2 title, ST", b"\x1b]2;pwned\x1b\\hello", "hello"),
    ("osc 52 clipboard", b"before\x1b]52;c;cm0gLXJmIH4=\x07after", "beforeafter"),
    ("osc 8 hyperlink", b"\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"),
    ("osc unterminated", b"ok\x1b]0;title to the end", "ok"),
    ("clear screen", b"\x1b[2Jcleared", "cleared"),
    ("cursor home", b"a\x1b[Hb", "ab"),
    ("cursor move", b"a\x1b[10;20Hb\x1b[3Ac", "abc"),
    ("device status query", b"query\x1b[6n", "query"),
    ("colour sgr", b"\x1b[1;31mred\x1b[0m plain \x1b[38;2;255;0;0mrgb\x1b[m", "red plain rgb"),
    ("private mode", b"\x1b[?1049halt screen\x1b[?25l", "alt screen"),
    ("csi cut short", b"text\x1b[12;3", "text"),
    ("bracketed paste", b"\x1b[200~rm -rf /\x1b[201~", "rm -rf /"),
    ("8-bit csi raw byte", b"\x9b31mred\x9b0m", "red"),
    ("8-bit csi code point", "\x9b31mred\x9b0m".encode(), "red"),
    ("8-bit osc code point", "\x9d0;title\x9cvisible".encode(), "visible"),
    ("8-bit osc raw bytes", b"\x9d0;title\x07visible", "visible"),
    ("c1 NEL code point", "a\x85b".encode(), "ab"),
    ("dcs sixel", b"\x1bPq#0;2;0;0;0#0~~\x1b\\after", "after"),
    ("apc kitty graphics", b"\x1b_Gf=100;AAAA\x1b\\img", "img"),
    ("pm and sos", b"\x1b^private\x1b\\x\x1bXstring\x1b\\y", "xy"),
    ("two-byte esc", b"\x1b7save\x1b8\x1bcreset\x1b=\x1b(0charset\x1b(B", "saveresetcharset"),
    ("lone esc at end", b"end\x1b", "end"),
    ("bell", b"ding\x07dong", "dingdong"),
    ("backspace", b"abc\x08\x08xy", "abcxy"),
    ("nul", b"a\x00b\x00", "ab"),
    ("del", b"a\x7fb", "ab"),
    ("vertical tab form feed", b"a\x0bb\x0cc", "abc"),
    ("rich markup", b"[bold red]x[/]", "[bold red]x[/]"),
    ("rich markup link", b"[link=file:///etc/passwd]x[/link]", "[link=file:///etc/passwd]x[/link]"),
    ("invalid utf-8 latin-1", b"caf\xe9 cr\xe8me", "caf\ufffd cr\ufffdme"),
    ("invalid utf-8 truncated", b"euro \xe2\x82", "euro \ufffd"),
    ("invalid utf-8 bytes", b"\xff\xfe ok", "\ufffd\ufffd ok"),
    ("utf-8 kept", "naïve — 日本語 ✓ 🙂".encode(), "naïve — 日本語 ✓ 🙂"),
    (
        "tqdm bar",
        b"  0%|          | 0/10\r 50%|#####     | 5/10\r100%|##########| 10/10",
        "100%|##########| 10/10",
    ),
    ("tqdm trailing cr", b"10%\r100%\r", "100%"),
    ("cr then clear", b"10%\r100%\r\x1b[K", "100%"),
    ("cr then spaces", b"done\r          \r", "done"),
    ("trailing cr", b"abc\r", "abc"),
    ("crlf ending", b"windows line\r", "windows line"),
    ("only cr", b"\r\r\r", ""),
    ("tab stops", b"a\tbc\tdef", "a       bc      def"),
    ("bidi override shown", "file\u202egnp.exe".encode(), "file<U+202E>gnp.exe"),
    ("line separator", "one\u2028two\u2029three".encode(), "onetwothree"),
    ("zero width joiner shown", "👩\u200d💻".encode(), "👩<U+200D>💻"),
]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_clean_line(raw: bytes, expected: str) -> None:
    assert clean_line(raw) == expected


def test_rich_markup_survives_as_text() -> None:
    """Consumers build Text(s), never Text.from_markup(s): markup from an agent stays text."""
    text = Text(clean_line(b"[bold red]x[/]"))
    assert text.plain == "[bold red]x[/]"
    assert text.spans == []


def test_megabyte_line_is_cut_with_marker() -> None:
    raw = b"x" * 1_048_576
    assert clean_line(raw) == "x" * MAX_DISPLAY_CHARS + " … [cut: 1,048,576 bytes]"


def test_long_line_with_escapes_is_cut_and_clean() -> None:
    raw = b"\x1b[31m" + "é".encode() * 10_000
    out = clean_line(raw)
    assert out == "é" * MAX_DISPLAY_CHARS + cut_marker(len(raw))


def test_cut_does_not_split_a_character() -> None:
    raw = "€".encode() * 100_000
    assert clean_line(raw) == "€" * MAX_DISPLAY_CHARS + " … [cut: 300,000 bytes]"
    raw = "\u202e".encode() * 300_000  # each shown, up to the cut
    assert clean_line(raw) == "<U+202E>" * MAX_DISPLAY_CHARS + " … [cut: 900,000 bytes]"
    raw = b"\x07" * 300_000  # all removed: nothing left but the marker
    assert clean_line(raw) == " … [cut: 300,000 bytes]"


def test_a_cut_line_can_be_cleaned_whole() -> None:
    """The log pane opens a cut line whole: the same cleaning, no cut."""
    raw = b"\x1b[31m" + b"x" * 1_048_576 + b"\x1b]0;t\x07 END\r"
    assert clean_line(raw, max_chars=None) == "x" * 1_048_576 + " END"
    assert clean_line(raw, max_chars=10) == "x" * 10 + cut_marker(len(raw) - 1)
    assert clean_line(b"\xff" * 3, max_chars=None) == "\ufffd" * 3


def test_line_just_at_the_limit_is_not_cut() -> None:
    assert clean_line(b"y" * MAX_DISPLAY_CHARS) == "y" * MAX_DISPLAY_CHARS
    assert clean_line(b"y" * (MAX_DISPLAY_CHARS + 1)) == "y" * MAX_DISPLAY_CHARS + cut_marker(
        MAX_DISPLAY_CHARS + 1
    )


def test_many_carriage_returns_are_bounded() -> None:
    assert clean_line(b"real" + b"\r" * 5_000_000) == ""
    assert clean_line(b"\r".join(b"%d%%" % i for i in range(100_000))) == "99999%"


def test_bytes_apart_cannot_rejoin_into_a_c1_control() -> None:
    # 0xC2 ... 0x85 would be U+0085 (NEL) once the sequence between them is removed.
    assert clean_line(b"\xc2\x1b[m\x85x") == "x"


FORBIDDEN = {*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F)}


def _assert_safe(out: str) -> None:
    bad = [hex(ord(c)) for c in out if ord(c) in FORBIDDEN or 0xD800 <= ord(c) <= 0xDFFF]
    assert not bad, f"{bad} in {out!r}"
    out.encode("utf-8")  # the terminal writer must be able to encode it


def test_random_bytes_never_leave_a_control_character() -> None:
    rng = random.Random(20240501)
    alphabet = b"\x1b\x9b\x9d\x07\x9c\\[]P_^X;0123456789?~m\r\t\n\xc2\xe2\x80\x82\xff a"
    for _ in range(5_000):
        raw = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
        _assert_safe(clean_line(raw))
    for _ in range(2_000):
        raw = rng.randbytes(rng.randrange(0, 80))
        _assert_safe(clean_line(raw))


TEXT_CASES: list[tuple[str, str, str]] = [
    ("plain", "val_auc", "val_auc"),
    ("newlines to spaces", "line one\nline two\r\nthree", "line one line two  three"),
    ("tab to space", "a\tb", "a b"),
    ("osc title", "name\x1b]0;pwned\x07", "name"),
    ("csi", "\x1b[2J\x1b[Hmetric", "metric"),
    ("c1 csi", "\x9b31mred", "red"),
    ("lone surrogate", "bad\ud800name", "bad\ufffdname"),
    ("markup", "[bold red]x[/]", "[bold red]x[/]"),
    ("bidi", "model\u202etxt.py", "model<U+202E>txt.py"),
    ("bell nul", "a\x07b\x00c", "abc"),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES]
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


def test_clean_text_cut() -> None:
    assert clean_text("n" * 10, max_chars=4) == "nnnn … [cut: 10 chars]"


def test_random_text_never_leaves_a_control_character() -> None:
    rng = random.Random(7)
    alphabet = "\x1b\x9b\x9d\x07\x9c\\[]P_;0123456789m\r\n\t\ud800\udc9b\u2028\u202e a"
    for _ in range(3_000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        out = clean_text(s)
        _assert_safe(out)
        assert "\t" not in out


def test_every_pane_shows_format_characters_inert() -> None:
    # printable is what every pane draws agent text with (code, scores, hints, header, dialogs):
    # a bidi override, a zero-width space, a BOM or a tag is shown, never acted on.
    from mletui.tui.widgets.log_view import printable

    hostile = "evil\u202efdp.py\u200b\ufeff\u2066x\u2069\U000e0041\x1b[2J\ud800\tend"
    shown = printable(hostile)
    assert shown == (
        "evil<U+202E>fdp.py<U+200B><U+FEFF><U+2066>x<U+2069><U+E0041>\ufffd[2J\ufffd  end"
    )
    assert shown.isprintable()
