"""A text's header shape — (length, all ASCII?) of its normalised header — worked out without the
Traditional → Simplified conversion (headers.header_shape), and a column's texts cleaned once each
(sheets.read_row): the same rows, values and notes as converting and cleaning every cell."""
from __future__ import annotations

import random
import unicodedata

import opencc
import pytest

from kam_xl import layout as L
from kam_xl.importing import cleaning as cl
from kam_xl.importing import sheets
from kam_xl.importing.headers import (TARGETS, HeaderMap, header_shape, header_shapes, lookup, norm_header, shape,
                                      synonyms)

# the characters norm_header removes or treats apart: a conversion must never make or take one
_SPECIAL = set("([（【)]）】 \t\n\r\f\v:：*＊._'’-#/")


def _letters(lo: int, hi: int) -> list[str]:
    return [chr(i) for i in range(lo, hi) if unicodedata.category(chr(i)) == "Lo"]


def test_the_conversion_maps_letters_one_to_one():
    # every CJK letter of the basic plane (the unified ideographs, extension A, the compatibility ones)
    letters = _letters(0x3400, 0x4DC0) + _letters(0x4E00, 0xA000) + _letters(0xF900, 0xFB00)
    changed = 0
    for ch in letters:
        got = cl.simplified(ch)
        assert len(got) == 1, (ch, got)
        assert unicodedata.category(got) == "Lo" and got not in _SPECIAL and got.lower() == got.upper() == got
        changed += got != ch
    assert changed > 2000  # the conversion did convert (客戶 → 客户 …)
    # phrases are converted as a whole (乾淨 → 干净, 頭髮 → 头发): no length changes either
    text = "乾隆皇帝的頭髮乾淨了，著名的著作裡麵包與麵條都有，後來的後面，鬆髮與鬆弛。客戶名稱、聯絡電話、業務員"
    assert len(cl.simplified(text)) == len(text)


@pytest.mark.parametrize("seed", range(3))
def test_the_shape_is_that_of_the_normalised_header(seed):
    rnd = random.Random(seed)
    texts = [t for table in TARGETS for target, names in synonyms()["tables"][table].items()
             for t in [target, *names]]
    trad = "客戶名稱聯絡電話業務員區域負責人備註應收帳款發票號碼開票日期滿意度調查投訴處理"
    odd = ["Kelvin \u212a", "\u0130stanbul", "\ufb01nance", "㈱精工", "﨑山", "（万元）", "金额（万元）", "Cust. No.",
           "客户 名称：", "ＡＢＣ－１２", "", " ", "单位名称（全称）*", None, 12.5, 131]
    for _ in range(300):
        n = rnd.randint(1, 14)
        texts.append("".join(rnd.choice(trad + "（）() :*-abcXYZ　１２") for _ in range(n)))
        texts.append(f"{rnd.choice(['天津', '杭州', '臺北', '香港'])}{rnd.choice(['盛達', '恒泰'])}物流集團有限公司")
    for t in [*texts, *odd]:
        assert header_shape(t) == shape(norm_header(t)), t


def test_no_header_is_of_a_shape_the_headers_lack():
    keys = [k for table in TARGETS for k in lookup(table)]
    assert {shape(k) for k in keys} == header_shapes()
    assert (12, False) not in header_shapes()  # a company's name of twelve characters: never converted


def test_a_header_in_the_name_column_is_found_as_when_every_name_is_converted():
    """_name_problem looks a name up among the headers only when its shape is a header's: every
    header of every table, written as archives write it (traditional characters, full width, a unit in
    brackets, spaces, a colon), is still found — the same answer as converting every name."""
    to_traditional = opencc.OpenCC("s2t")

    def every_time(text):  # the name check as first written: every name converted
        t = cl.nfkc(text).replace(" ", "")
        if sheets._PLACEHOLDER.search(t) or sheets._LABEL.match(t) or len(t) < 2 or not sheets._LETTER.search(t):
            return sheets._name_problem(text, text)  # (decided before the lookup either way)
        key = norm_header(t)
        return (sheets.REPEATED_HEADER, f"“{text}”是表头文字") if any(key in lookup(tb) for tb in TARGETS) else None

    texts = [t for table in TARGETS for target, names in synonyms()["tables"][table].items() for t in [target, *names]]
    written = [w for t in texts for w in (t, to_traditional.convert(t), t + "（万元）", f" {t} ", t.upper(),
                                          unicodedata.normalize("NFKC", t).translate({0x20: 0x3000}))]
    written += ["天津盛达物流集团有限公司", "香港恒泰貿易有限公司", "ACME Trading Co., Ltd."]
    found = [sheets._name_problem(w, w) for w in written]
    assert found == [every_time(w) for w in written]
    assert sum(1 for f in found if f and f[0] == sheets.REPEATED_HEADER) > len(texts)  # (the headers were found)


def _read(rows: list[list], kept: int, monkeypatch) -> list[tuple]:
    monkeypatch.setattr(sheets, "_CLEANED_KEPT", kept)
    sheets._READERS.clear()  # (the memo lives with the header's readers)
    hm = HeaderMap(L.CUSTOMERS.name, (0,), {0: sheets.CUST_NAME, 1: L.CUSTOMERS.header("manager"),
                                            2: L.CUSTOMERS.header("volume"), 3: L.CUSTOMERS.header("credit"),
                                            4: L.CUSTOMERS.header("phone")}, {2: 1e4}, {})
    out = []
    for i, cells in enumerate(rows):
        r = sheets.read_row(L.CUSTOMERS, hm, cells, i + 2)
        out.append((r.kind, r.reason, r.values, r.notes, r.no_identity))
    sheets._READERS.clear()
    return out


@pytest.mark.parametrize("seed", range(3))
def test_a_columns_texts_cleaned_once_read_as_cleaned_every_time(seed, monkeypatch):
    rnd = random.Random(seed)
    rows = []
    for i in range(2000):
        rows.append([rnd.choice([f"精工{rnd.randint(0, 50)}有限公司", "待补充", "客户名称", "XX公司", "  ", None, 12]),
                     rnd.choice(["刘晓梅", " 王立新 ", "業務員甲", "", "—", 3.0]),
                     rnd.choice(["181.0", "12万", "五十万", "-5", "abc", 3.5, "", None]),
                     rnd.choice(["优", "較好", "很差劲", "良", "", None]),
                     rnd.choice(["13912345678", "0571-8888888", "电话", 13912345678.0, "12", ""])])
    every_time = _read(rows, 0, monkeypatch)
    once = _read(rows, 4096, monkeypatch)
    assert once == every_time
    assert sum(1 for kind, _, _, notes, _ in once if any("很差劲" in n for n in notes)) > 100  # refused on every row
    assert sum(1 for _, _, values, _, _ in once if values.get(L.CUSTOMERS.header("credit")) == "较好") > 100


def _total_every_time(cells: list) -> bool:  # every text normalised, as first written
    seen = 0
    for v in cells:
        if isinstance(v, str) and v.strip():
            if not v.isascii() and sheets._TOTAL_TEXT.match(cl.nfkc(v).replace(" ", "")):
                return True
            seen += 1
            if seen == 4:
                break
    return False


@pytest.mark.parametrize("seed", range(3))
def test_a_total_row_is_found_as_when_every_text_is_normalised(seed):
    rnd = random.Random(seed)
    totals = ["合计", " 合计", "\u3000合 计", "合计：", "本页合计", "总额（元）", "\U0001f234计", "⼩计", "累计金额", "总合计"]
    others = ["天津盛达物流集团有限公司", "刘晓梅", "合肥精工", "小米科技", "总部", "本溪钢铁", "共青城", "181.0", "Total",
              "", " ", None, 12.5, "—", "\u3000天津", "㈱精工"]
    rows = [[rnd.choice(others + totals if rnd.random() < 0.3 else others) for _ in range(rnd.randint(0, 6))]
            for _ in range(3000)]
    found = [sheets._total_text(r) for r in rows]
    assert found == [_total_every_time(r) for r in rows]
    assert sum(found) > 100 and not all(found)
