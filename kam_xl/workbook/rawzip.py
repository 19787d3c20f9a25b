"""Copy a zip file while replacing some members, copying all others as raw
compressed bytes (no inflate/deflate), so untouched parts stay byte-identical
and a write costs only the parts that changed."""
from __future__ import annotations

import os
import struct
import zipfile
import zlib

from .deflate import LOCAL_HEADER as _LOCAL, Z_FINISH, Z_SYNC_FLUSH, crc32, fast_compressor

_CENTRAL = struct.Struct("<4s6H3L5H2L")
_END = struct.Struct("<4s4H2LH")


BIG_PART = 16 << 20


def _deflate(data) -> bytes:
    """Raw deflate of bytes or of a list of buffers (a patched sheet in pieces).

    zlib's usual level for small parts; for big sheets the fast level of
    deflate.fast_compressor (ISA-L: four times zlib's level 2, the same size), in two halves
    on two threads (it lets go of the GIL).  The first half ends with a sync flush, so the
    halves joined are one valid deflate stream."""
    pieces = [data] if isinstance(data, (bytes, bytearray, memoryview)) else list(data)
    size = sum(len(p) for p in pieces)
    if size <= BIG_PART:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        return b"".join([c.compress(p) for p in pieces] + [c.flush()])
    from concurrent.futures import ThreadPoolExecutor
    first, second, seen = [], [], 0
    for p in pieces:  # split the pieces at half the size (a big piece is cut in two)
        p = memoryview(p)
        room = size // 2 - seen
        if room <= 0:
            second.append(p)
        elif len(p) <= room:
            first.append(p)
        else:
            first.append(p[:room])
            second.append(p[room:])
        seen += len(p)

    def part(chunk: list, last: bool) -> bytes:
        c = fast_compressor()
        return b"".join([c.compress(p) for p in chunk] + [c.flush(Z_FINISH if last else Z_SYNC_FLUSH)])

    with ThreadPoolExecutor(1) as pool:
        later = pool.submit(part, second, True)
        return part(first, False) + later.result()


STREAM_BLOCK = 16 << 20


def _block(data: bytes, last: bool) -> bytes:
    c = fast_compressor()
    return c.compress(data) + c.flush(Z_FINISH if last else Z_SYNC_FLUSH)


def _write_stream(out, pieces) -> tuple[int, int, int]:
    """Deflate a member handed over as an iterator of buffers (a big sheet patched as it
    is read) straight into `out`: blocks of 16 MB compressed independently on two threads
    (each but the last ends with a sync flush, so joined they are one deflate stream), at
    most a few blocks in memory.  Returns (crc, compressed size, size)."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor
    crc = size = csize = 0
    block: list = []
    held = 0
    running: deque = deque()
    with ThreadPoolExecutor(2) as pool:
        def drain(keep: int) -> None:
            nonlocal csize
            while len(running) > keep:
                data = running.popleft().result()
                out.write(data)
                csize += len(data)
        for p in pieces:
            crc = crc32(p, crc)
            size += len(p)
            block.append(p)
            held += len(p)
            if held >= STREAM_BLOCK:
                running.append(pool.submit(_block, b"".join(block), False))
                block, held = [], 0
                drain(2)
        running.append(pool.submit(_block, b"".join(block), True))
        drain(0)
    return crc, csize, size


def _crc_size(data) -> tuple[int, int]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return crc32(data), len(data)
    crc = size = 0
    for p in data:
        crc = crc32(p, crc)
        size += len(p)
    return crc, size


KERNEL_COPY = 1 << 20  # a member this big is copied by the kernel, file to file, where it can


class RawCopy:
    """An unchanged member's compressed bytes, copied from the old file to the new one.  A big
    one by the kernel (os.copy_file_range: no trip through this process's memory, three times
    as fast as reading and writing it); a small one, or where the kernel cannot (another
    system, another file system), read and written."""
    __slots__ = ("fin", "start", "size")
    kernel = hasattr(os, "copy_file_range")

    def __init__(self, fin, start: int, size: int):
        self.fin, self.start, self.size = fin, start, size

    def to(self, out) -> None:
        if self.size >= KERNEL_COPY and RawCopy.kernel:
            out.flush()
            at, done = out.tell(), 0
            try:
                while done < self.size:
                    n = os.copy_file_range(self.fin.fileno(), out.fileno(), self.size - done,
                                           self.start + done, at + done)
                    if n <= 0:
                        raise OSError("copy_file_range copied nothing")
                    done += n
            except OSError:
                RawCopy.kernel = False  # read and written from now on (what was copied is written over)
            else:
                out.seek(at + self.size)
                return
            out.seek(at)
        self.fin.seek(self.start)
        left = self.size
        while left:
            data = self.fin.read(min(left, 16 << 20))
            if not data:
                raise zipfile.BadZipFile("a member ends before its compressed size")
            out.write(data)
            left -= len(data)


def copy_with_replacements(src: str, dst: str, replaced: dict[str, "bytes | list | None"],
                           fsync: bool = True) -> None:
    """A member replaced by None is left out; one replaced by an iterator of buffers (not
    bytes, not a list) is written as the iterator hands them over."""
    with zipfile.ZipFile(src) as zin, open(src, "rb") as fin, open(dst, "wb") as out:
        infos = zin.infolist()
        central = []
        for info in infos:
            if info.filename in replaced and replaced[info.filename] is None:
                continue
            # the name's bytes as stored: Python decoded a name without the UTF-8 flag as
            # CP437, so encoding it back gives the original bytes (never a rename)
            name_b = info.filename.encode("utf-8") if info.flag_bits & 0x800 else info.filename.encode("cp437")
            flag = info.flag_bits & ~0x08  # we always write sizes in the local header
            streamed = None
            if info.filename in replaced and not isinstance(replaced[info.filename], (bytes, bytearray, memoryview, list)):
                streamed = replaced[info.filename]
                offset = out.tell()
                flag &= ~0x06
                dostime = info.date_time
                t = (dostime[3] << 11) | (dostime[4] << 5) | (dostime[5] // 2)
                d = ((max(dostime[0], 1980) - 1980) << 9) | (dostime[1] << 5) | dostime[2]
                out.write(_LOCAL.pack(b"PK\x03\x04", 20, flag, zipfile.ZIP_DEFLATED, t, d, 0, 0, 0,
                                      len(name_b), 0))
                out.write(name_b)
                crc, csize, usize = _write_stream(out, streamed)
                if csize >= 0xFFFFFFFF or usize >= 0xFFFFFFFF or offset >= 0xFFFFFFFF:
                    raise OverflowError("zip64 members are not supported")
                end = out.tell()
                out.seek(offset + 14)
                out.write(struct.pack("<3L", crc, csize, usize))
                out.seek(end)
                central.append((name_b, flag, zipfile.ZIP_DEFLATED, t, d, crc, csize, usize, offset,
                                info.external_attr))
                continue
            if info.filename in replaced:
                raw = replaced[info.filename]  # bytes, or a list of buffers
                data = _deflate(raw)
                crc, usize = _crc_size(raw)
                method, csize = zipfile.ZIP_DEFLATED, len(data)
                flag &= ~0x06
            else:
                fin.seek(info.header_offset)
                hdr = _LOCAL.unpack(fin.read(_LOCAL.size))
                fin.seek(hdr[-2] + hdr[-1], 1)
                data = RawCopy(fin, fin.tell(), info.compress_size)
                method, crc, csize, usize = info.compress_type, info.CRC, info.compress_size, info.file_size
            if csize >= 0xFFFFFFFF or usize >= 0xFFFFFFFF or out.tell() >= 0xFFFFFFFF:
                raise OverflowError("zip64 members are not supported")
            offset = out.tell()
            dostime = info.date_time
            t = (dostime[3] << 11) | (dostime[4] << 5) | (dostime[5] // 2)
            d = ((max(dostime[0], 1980) - 1980) << 9) | (dostime[1] << 5) | dostime[2]
            out.write(_LOCAL.pack(b"PK\x03\x04", 20, flag, method, t, d, crc, csize, usize,
                                  len(name_b), 0))
            out.write(name_b)
            if isinstance(data, RawCopy):
                data.to(out)
            else:
                out.write(data)
            central.append((name_b, flag, method, t, d, crc, csize, usize, offset,
                            info.external_attr))
        cd_start = out.tell()
        for name_b, flag, method, t, d, crc, csize, usize, offset, ext in central:
            out.write(_CENTRAL.pack(b"PK\x01\x02", 20, 20, flag, method, t, d, crc, csize, usize,
                                    len(name_b), 0, 0, 0, 0, ext, offset))
            out.write(name_b)
        cd_size = out.tell() - cd_start
        out.write(_END.pack(b"PK\x05\x06", 0, 0, len(central), len(central), cd_size, cd_start, 0))
        out.flush()
        if fsync:
            os.fsync(out.fileno())
