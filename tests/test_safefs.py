from __future__ import annotations

from pathlib import Path

import pytest

from mletui.core.safefs import read_regular


def test_read_regular_gives_the_whole_file_its_tail_or_a_reason(tmp_path: Path) -> None:
    """Read as much as the file holds (plus a byte to see its end), whatever its size beside the
    limit: empty, small, exactly the limit, longer than a read's block, longer than the limit."""
    path = tmp_path / "f"
    for size in (0, 1, 100, 1 << 16, (1 << 16) + 1, 3 << 20):
        data = bytes(n % 251 for n in range(size))
        path.write_bytes(data)
        assert read_regular(path, size) == data
        assert read_regular(path, size + 10) == data
        assert read_regular(path, 1 << 22, tail=True) == data
        if size:
            with pytest.raises(ValueError, match="larger than"):
                read_regular(path, size - 1)
            assert read_regular(path, size - 1, tail=True) == data[1:]
