"""The book's parts inflated and deflated by ISA-L (workbook/deflate.py): the same bytes as zipfile
and zlib give, a damaged part refused as zipfile refuses it, never more than a piece in memory."""
from __future__ import annotations

import random
import zipfile
import zlib

import pytest

from kam_xl.workbook import deflate, rawzip


def _sheet(n: int) -> bytes:
    rng = random.Random(n)
    rows = b"".join(b'<row r="%d"><c r="A%d" t="s"><v>%d</v></c><c r="B%d"><v>%.2f</v></c></row>'
                    % (r, r, rng.randrange(5000), r, rng.random() * 1e5) for r in range(2, n))
    return b'<?xml version="1.0"?><worksheet><sheetData>' + rows + b"</sheetData></worksheet>"


@pytest.fixture
def book(tmp_path):
    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("xl/worksheets/sheet1.xml", _sheet(40_000), zipfile.ZIP_DEFLATED)
        z.writestr("xl/stored.xml", _sheet(500), zipfile.ZIP_STORED)
        z.writestr("xl/spaces.xml", b" " * (40 << 20), zipfile.ZIP_DEFLATED)  # inflates 1000:1
        z.writestr("empty.xml", b"", zipfile.ZIP_DEFLATED)
    return path


@pytest.mark.parametrize("piece", [None, 1024])
@pytest.mark.parametrize("with_isal", [True, False])
def test_a_part_inflates_to_what_zipfile_reads(book, monkeypatch, with_isal, piece):
    """Whole, however small the pieces it is handed over in (1 KB: every compressed read inflates
    to many pieces, the last one's among them)."""
    if not with_isal:
        monkeypatch.setattr(deflate, "_isal", None)
    if piece:
        monkeypatch.setattr(deflate, "CHUNK", piece)
    with zipfile.ZipFile(book) as z:
        for name in z.namelist():
            pieces = list(deflate.inflated(str(book), name))
            assert b"".join(pieces) == z.read(name)
            assert all(len(p) <= deflate.CHUNK for p in pieces)  # a part of spaces comes in pieces too
            reader = deflate.Reader(str(book), name)
            assert b"".join(iter(lambda: reader.read(1 << 20), b"")) == z.read(name)


def _damaged(book, tmp_path, how) -> str:
    data = bytearray(book.read_bytes())
    with zipfile.ZipFile(book) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode())
    how(data, start, info)
    out = tmp_path / "damaged.xlsx"
    out.write_bytes(bytes(data))
    return str(out)


def _flip(data, start, info):
    data[start + info.compress_size // 2] ^= 0x55


def _crc(data, start, info):  # the data intact, the CRC in the central directory wrong
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_len = int.from_bytes(data[central + 28:central + 30], "little")
        if data[central + 46:central + 46 + name_len] == info.filename.encode():
            data[central + 16] ^= 0x01
            return
        central = data.find(b"PK\x01\x02", central + 4)
    raise AssertionError("no central directory entry of the sheet")


@pytest.mark.parametrize("how", [_flip, _crc])
def test_a_damaged_part_is_refused_as_zipfile_refuses_it(book, tmp_path, how):
    path = _damaged(book, tmp_path, how)
    with pytest.raises((zipfile.BadZipFile, zlib.error)):
        with zipfile.ZipFile(path) as z:
            z.read("xl/worksheets/sheet1.xml")
    with pytest.raises(zipfile.BadZipFile):
        b"".join(deflate.inflated(path, "xl/worksheets/sheet1.xml"))


def test_a_big_part_deflated_in_two_halves_and_in_blocks_is_one_stream(tmp_path, book):
    data = _sheet(400_000)
    assert len(data) > rawzip.BIG_PART
    assert zlib.decompress(rawzip._deflate(data), -15) == data
    third = len(data) // 3
    assert zlib.decompress(rawzip._block(data[:third], False) + rawzip._block(data[third:], True), -15) == data
    out = tmp_path / "copy.xlsx"
    rawzip.copy_with_replacements(str(book), str(out), {"xl/worksheets/sheet1.xml": data,
                                                         "xl/spaces.xml": iter([data[:third], data[third:]])})
    with zipfile.ZipFile(out) as z:  # zipfile checks each CRC as it reads
        assert z.testzip() is None
        assert z.read("xl/worksheets/sheet1.xml") == data == z.read("xl/spaces.xml")


def _raw(path, name: str) -> bytes:
    """A member's compressed bytes as stored."""
    with zipfile.ZipFile(path) as z, open(path, "rb") as f:
        info = z.getinfo(name)
        f.seek(info.header_offset + 26)
        skip = int.from_bytes(f.read(2), "little") + int.from_bytes(f.read(2), "little")
        f.seek(skip, 1)
        return f.read(info.compress_size)


@pytest.mark.parametrize("kernel", ["copies", "fails_half_way", "missing"])
def test_an_unchanged_member_is_copied_byte_for_byte(tmp_path, book, monkeypatch, kernel):
    """A big unchanged member is copied file to file by the kernel; where the kernel cannot
    (another system or file system, or it fails half-way), it is read and written instead."""
    noise = random.Random(1).randbytes(3 << 20)  # does not compress: 3 MB stored as deflate
    with zipfile.ZipFile(book, "a") as z:
        z.writestr("xl/media/noise.bin", noise, zipfile.ZIP_DEFLATED)
    monkeypatch.setattr(rawzip.RawCopy, "kernel", kernel != "missing")
    calls = []
    real = getattr(rawzip.os, "copy_file_range", None)

    def copy_file_range(src, dst, count, offset_src, offset_dst):
        calls.append(count)
        if kernel == "fails_half_way" and len(calls) > 1:
            raise OSError(18, "Invalid cross-device link")
        return real(src, dst, min(count, 1 << 20), offset_src, offset_dst)
    if real is not None:
        monkeypatch.setattr(rawzip.os, "copy_file_range", copy_file_range)
    out = tmp_path / "copy.xlsx"
    rawzip.copy_with_replacements(str(book), str(out), {"empty.xml": b"<new/>"})
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
        assert z.read("xl/media/noise.bin") == noise and z.read("empty.xml") == b"<new/>"
        names = [n for n in z.namelist() if n != "empty.xml"]
    for name in names:
        assert _raw(out, name) == _raw(book, name), name
    if real is not None:
        assert bool(calls) == (kernel != "missing")
        assert rawzip.RawCopy.kernel == (kernel == "copies")
