"""The scanner's searches made cheaper (workbook/scan.py) find what the plain searches find: the
masters of shared formulas (from the rare ref=" instead of every <f> tag) and the formulas without
a value (one regex pass instead of a search per ending), on random stretches of hostile pieces."""
from __future__ import annotations

import random

import pytest

from kam_xl.workbook import scan

PIECES = [b'<c r="A1">', b'<c r="B7" s="3" t="str">', b'<f t="shared" ref="A1:A9" si="0">X</f>', b'<f t="shared" si="0"/>',
          b'<f ref="B2:B3" t="shared" si="1">Y</f>', b'<f\tt="shared"\nref="C1:C2" si="2">Z</f>', b'<v>1</v></c>', b'</c>',
          b'<f>1+1</f>', b'</f></c>', b'</f><v></v></c>', b'</f><v/></c>', b'<sheetView sqref="A1"/>', b'xref="', b'ref="',
          b'<f t="shared" xref="A1">', b'<f t="shared"ref="A1">', b'<fo t="shared" ref="A1">', b'<f/>', b'>', b'<', b'/></c>']


def masters_as_first_written(seg: bytes) -> set[int]:
    return {m.start() for m in scan._MASTER.finditer(seg)}


def no_value_as_first_written(seg: bytes) -> set[int]:
    found = set()
    for needle in (b"</f></c>", b"</f><v></v></c>", b"</f><v/></c>"):
        pos = seg.find(needle)
        while pos >= 0:
            found.add(pos)
            pos = seg.find(needle, pos + 1)
    return found


@pytest.mark.parametrize("seed", range(4))
def test_the_cheaper_searches_find_what_the_plain_ones_find(seed):
    rnd = random.Random(seed)
    hits = 0
    for _ in range(5000):
        seg = b"".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 14)))
        want = masters_as_first_written(seg)
        assert set(scan._masters(seg)) == want, seg
        assert {m.start() for m in scan._NO_VALUE.finditer(seg)} == no_value_as_first_written(seg), seg
        hits += bool(want)
    assert hits > 1000  # the masters were there to be found


def test_a_stretch_of_ref_without_tags_costs_one_pass():
    seg = b'ref="' * 5_000  # each hit looks back only to the one before, each tag is looked at once
    assert list(scan._masters(seg)) == []
    assert list(scan._masters(b'<f t="shared" ' + seg)) == [0]


@pytest.mark.parametrize("seed", range(4))
def test_a_formula_tag_is_found_from_its_f_as_a_plain_search_finds_it(seed):
    """_has_formula_tag is b"<f" in seg, on stretches with few and with many an "f" (the search
    from each "f" gives way to a whole search after _F_TRIES of them)."""
    rnd = random.Random(seed)
    pieces = PIECES + [b"f", b"off", b"<c r=\"F1\" t=\"inlineStr\"><is><t>fluff of fifty</t></is></c>", b"<", b"<<"]
    found = 0
    for n in (3, 14, 80):
        for _ in range(3000):
            seg = b"".join(rnd.choice(pieces if rnd.random() < 0.5 else pieces[-5:] + [b"<v>1</v>"])
                           for _ in range(rnd.randint(0, n)))
            want = b"<f" in seg
            assert scan._has_formula_tag(seg) == want, seg
            found += want
    assert 0 < found < 3 * 3000  # both answers were there to be given
    assert scan._has_formula_tag(b"<f>1</f>") and not scan._has_formula_tag(b"f" * 1000 + b"<")
    assert scan._has_formula_tag(b"f" * 1000 + b"<f")  # after the tries, the whole search


@pytest.mark.parametrize("seed", range(4))
def test_error_cells_are_found_from_their_e_as_a_plain_search_finds_them(seed):
    """_find_error is seg.find(b't="e"', start), on stretches with few and with many an "e"."""
    rnd = random.Random(seed)
    pieces = PIECES + [b'<c r="A1" t="e"><v>#N/A</v></c>', b't="e"', b'e"', b't="', b"e", b"free text here"]
    found = 0
    for n in (3, 14, 80):
        for _ in range(3000):
            seg = b"".join(rnd.choice(pieces if rnd.random() < 0.5 else pieces[-6:] + [b"<v>1</v>"])
                           for _ in range(rnd.randint(0, n)))
            start = rnd.randint(0, len(seg))
            want = seg.find(b't="e"', start)
            assert scan._find_error(seg, start) == want, (seg, start)
            found += want >= 0
    assert 0 < found < 3 * 3000
    assert scan._find_error(b"e" * 1000 + b't="e"', 0) == 1000  # after the tries, the whole search


@pytest.mark.parametrize("right", [15 + scan.FAR_COLS, 27 + scan.FAR_COLS, 700, 16383])
@pytest.mark.parametrize("seed", range(3))
def test_far_cells_are_found_as_the_far_pattern_alone_finds_them(right, seed):
    """A stretch is searched for far cells only when it holds a reference of two letters (a column
    right of the tables' and FAR_COLS more has two letters or more): what the scanner finds equals
    what the far pattern finds tried at every cell — near and far references of one to three letters."""
    from kam_xl.workbook.package import col_letter
    rnd = random.Random(seed)
    near = [col_letter(c) for c in (0, 5, 14, 25, 26, 27, 40, right - 1, right)]
    far = [col_letter(c) for c in (right + 1, right + 2, 701, 702, 1500, 16383) if c > right and c < 16384]
    far_pattern = scan.beyond_pattern(right)
    found = 0
    for _ in range(3000):
        cells = [f'<c r="{rnd.choice(far if far and rnd.random() < 0.05 else near)}{rnd.randint(1, 99)}"><v>1</v></c>'
                 for _ in range(rnd.randint(0, 12))]
        seg = ("<row r=\"1\">" + "".join(cells) + "</row>").encode()
        sc = scan._Scanner(10 ** 9, right)
        sc.segment(seg, 0)
        want = max([0] + [scan.col_index(m[1].decode()) for m in far_pattern.finditer(seg)])
        assert sc.out.max_col == want, seg
        found += bool(want)
    assert found > 50 or not far  # far cells were there to be found
