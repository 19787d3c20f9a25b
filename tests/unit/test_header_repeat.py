"""A page's header again, found by _HeaderRepeat with each distinct text of a column normalised once:
the same rows as normalising every cell, on random rows of names, repeated staff, and headers
written again in every way a printed archive writes them (traditional characters, full width,
spaces, a unit in brackets), with the memo kept or full."""
from __future__ import annotations

import random

import pytest

from kam_xl.importing import sheets

HEADER = ["单位名称", "业务员", "年用量（万元）", "回款情况", "电话"]
AGAIN = [["單位名稱", "業務員", "年用量(万元)", "回款情況", "電話"],
         ["单位 名称", "业务员", "年用量", "回款情况", None],
         [None, "业务员：", "年用量（万元）", "回款情况", "电话"],
         ["ＵＮＩＴ", "业务员", "年用量", None, None],
         ["单位名称", None, None, None, None]]


def _rows(rnd: random.Random, n: int) -> list[list]:
    rows = []
    for i in range(n):
        if rnd.random() < 0.05:
            rows.append(list(rnd.choice(AGAIN)))
        else:
            rows.append([f"精工{rnd.randint(0, 10 ** 6)}有限公司", f"业务员{rnd.randint(0, 30)}",
                         rnd.choice([1.5, "12", None]), rnd.choice(["优", "良", "好", None]), "139" + str(i)])
    return rows


@pytest.mark.parametrize("kept", [0, 3, 20_000])
@pytest.mark.parametrize("seed", range(3))
def test_a_header_again_is_found_as_when_every_cell_is_normalised(kept, seed, monkeypatch):
    rnd = random.Random(seed)
    rows = _rows(rnd, 3000)
    cols = list(range(len(HEADER)))
    monkeypatch.setattr(sheets, "_NORMALISED_KEPT", kept)
    found = sheets._HeaderRepeat([HEADER], cols)
    repeats = [found(r) for r in rows]

    def plain(cells) -> bool:  # every cell normalised, as first written
        want = sheets._texts(HEADER, cols)
        have = sheets._texts(cells, cols)
        probe = [(c, w) for c, w in zip(cols, want) if w][:2]
        if not any(c < len(cells) and isinstance(cells[c], str) and have[c] == w for c, w in probe):
            return False
        pairs = [(a, b) for a, b in zip(have, want) if b]
        return len(pairs) >= 2 and sum(a == b for a, b in pairs) * 10 >= 6 * len(pairs)
    assert repeats == [plain(r) for r in rows]
    assert sum(repeats) > 50  # headers again were there to be found
    assert len(found.normalised) <= kept
