"""Value cleaners: examples from real archives plus property-based tests."""
import datetime as dt

import pytest
from hypothesis import given, strategies as st

from kam_xl.importing import cleaning as cl
from kam_xl.domain.names import normalize_id, normalize_name

FW = str.maketrans("0123456789.,%", "０１２３４５６７８９．，％")


@pytest.mark.parametrize("raw,mult,expected", [
    ("50万", 1, 500000), ("32.5万元", 1, 325000), ("¥1,200,000.00", 1, 1200000), ("120000元", 1, 120000),
    ("１２０，０００", 1, 120000), (85, 10000, 850000), ("32.5", 10000, 325000), ("4.2万", 10000, 42000),
    ("￥ 3,000", 1, 3000), ("1.5亿", 1, 150000000), (None, 1, None), ("  ", 1, None),
])
def test_amount_examples(raw, mult, expected):
    assert cl.parse_amount(raw, mult) == expected


def test_chinese_numerals_are_amounts():
    """§7: amounts in Chinese numerals are read (a unit left out, as in 一万二, is refused)."""
    assert cl.parse_amount("一万") == 10000 and cl.parse_amount("一百零五万") == 1_050_000
    assert cl.parse_amount("3千万") == 30_000_000 and cl.parse_amount("两千五百元") == 2500


@pytest.mark.parametrize("raw", ["abc", "12万3", "一万二", "1,2.3.4", "五十万三"])
def test_amount_garbage_is_an_error(raw):
    with pytest.raises(ValueError):
        cl.parse_amount(raw)


@given(st.decimals(min_value=0, max_value=10 ** 9, places=2, allow_nan=False))
def test_amount_round_trips_through_every_written_form(d):
    x = float(d)
    forms = [f"{x:.2f}", f"{x:,.2f}", f"¥{x:,.2f}", f"￥{x:.2f}元", f"{x:,.2f}".translate(FW)]
    for f in forms:
        assert cl.parse_amount(f) == pytest.approx(x, abs=0.005), f
    assert cl.parse_amount(f"{x / 10000:.6f}万") == pytest.approx(x, abs=0.01)


@given(st.one_of(st.text(max_size=30), st.floats(allow_nan=True), st.integers(), st.none()))
def test_cleaners_never_crash_on_any_input(v):
    for fn in (cl.parse_amount, cl.parse_percent, cl.parse_date, cl.parse_phone, cl.parse_id, cl.parse_text,
               cl.parse_company):
        try:
            fn(v)
        except ValueError:
            pass


@pytest.mark.parametrize("raw,expected", [("12.5%", 0.125), (0.125, 0.125), (12.5, 0.125), ("12.5", 0.125),
                                          ("１２．５％", 0.125), (1, 1.0), ("0.08", 0.08)])
def test_percent_examples(raw, expected):
    assert cl.parse_percent(raw) == pytest.approx(expected)


@given(st.integers(min_value=0, max_value=10000))
def test_percent_forms_agree(n):
    p = n / 10000  # 0–100% in 0.01% steps
    assert cl.parse_percent(f"{p * 100:.2f}%") == pytest.approx(p, abs=1e-6)
    if p < 1 and p * 100 > 1:
        assert cl.parse_percent(p * 100) == pytest.approx(p, abs=1e-6)


@pytest.mark.parametrize("raw", ["2019年3月5日", "2019/3/5", "2019.03.05", "20190305", "2019-03-05",
                                 43529, 43529.0, dt.datetime(2019, 3, 5, 10, 30), "2019-03-05 10:30:00",
                                 20190305])
def test_date_forms(raw):
    assert cl.parse_date(raw) == dt.date(2019, 3, 5)


@given(st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_dates_round_trip_through_chinese_forms_and_serials(d):
    serial = (d - dt.date(1899, 12, 30)).days
    for f in (f"{d.year}年{d.month}月{d.day}日", f"{d.year}/{d.month}/{d.day}", f"{d:%Y.%m.%d}",
              f"{d:%Y%m%d}", serial, float(serial)):
        assert cl.parse_date(f) == d


@pytest.mark.parametrize("raw,expected", [
    (13812345678.0, "13812345678"), ("+86 138 1234 5678", "13812345678"), (2155550000, "021-55550000"),
    ("021-55550000", "021-55550000"), (75512345678, "0755-12345678"), ("010 8888 6666", "010-88886666"),
    ("13812345678/021-55550000", "13812345678、021-55550000"), ("0571-88886666转123", "0571-88886666-123"),
])
def test_phone_forms(raw, expected):
    assert cl.parse_phone(raw) == expected


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_mobile_numbers_survive_being_stored_as_floats(m):
    assert cl.parse_phone(float(m)) == m
    assert cl.parse_phone("+86" + m) == m


def test_ids_as_text_and_lost_leading_zeros():
    assert cl.parse_id(12.0) == "12" and cl.parse_id(" kh000012 ") == "KH000012"
    assert normalize_id("KH000012") == normalize_id("kh12") and normalize_id(12.0) == normalize_id("0012")


def test_enum_synonyms():
    m = {"优": "好", "良": "较好", "中": "一般"}
    assert cl.parse_enum("优", m, ("好", "较好", "一般", "差")) == "好"
    assert cl.parse_enum("差", m, ("好", "较好", "一般", "差")) == "差"
    with pytest.raises(ValueError):
        cl.parse_enum("特别好", m, ("好", "较好", "一般", "差"))


def test_name_normalisation_keeps_legal_forms_apart():
    assert normalize_name("杭州（西湖）恒泰 有限公司") == normalize_name("杭州(西湖)恒泰有限公司")
    assert normalize_name("ＡＢＣ科技有限公司") == normalize_name("abc科技有限公司")
    assert normalize_name("恒泰有限公司") != normalize_name("恒泰有限责任公司")


_ODD = "（）【】[]〔〕｛｝{}() \t\n\u3000\u00a0\u2003ＡａＫＨ０１２kh012有限公司杭州①㈱ﬁ\u200b"


@given(st.one_of(st.text(max_size=12), st.text(alphabet=_ODD, max_size=12), st.integers(), st.floats()))
def test_names_and_ids_normalise_as_every_step_taken_each_time(text):
    """The fast paths (a name without brackets or spaces, an ASCII id) give what the whole
    of each step gives."""
    import re
    import unicodedata
    brackets = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")",
                              "〔": "(", "〕": ")", "｛": "(", "｝": ")", "{": "(", "}": ")"})
    s = unicodedata.normalize("NFKC", str(text)).translate(brackets)
    assert normalize_name(text) == re.sub(r"[\s\u3000\u00a0]+", "", s).lower()
    v = int(text) if isinstance(text, float) and text.is_integer() else text
    s = unicodedata.normalize("NFKC", str(v)).strip().upper()
    m = re.fullmatch(r"([A-Z]*)0*(\d+)", s)
    assert normalize_id(text) == (f"{m[1]}{int(m[2])}" if m else s)


def test_header_units():
    assert cl.unit_of("年用量（万元）") == 10000 and cl.unit_of("金额(元)") == 1 and cl.unit_of("年用量") == 1
