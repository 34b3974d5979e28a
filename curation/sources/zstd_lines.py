"""Stream a zstd-compressed (or plain) NDJSON file as large chunks of whole lines.

Pushshift dumps are single zstd frames written with a 2 GiB window; a month of comments is tens of
GB. Parsing line by line in Python is the bottleneck, so this module hands out big chunks of whole
lines (a few pieces, each cut at a line end) for a columnar JSON reader to parse in one call.
Decompression runs in a background thread (zstandard releases the GIL) so it overlaps with parsing.

A truncated or corrupt stream raises :class:`~curation.errors.CurationError` naming the file and
the compressed byte offset; nothing is silently cut short.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import zstandard

from curation.errors import CurationError
from curation.sources.lines import count_newlines

#: Pushshift dumps need ``--long=31``: a 2 GiB window.
MAX_WINDOW = 2**31
#: The four magic bytes every zstd frame starts with.
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: Decompressed bytes per chunk handed to the parser: large enough that per-chunk overhead
#: vanishes and the parser's threads have work, small enough to keep memory flat.
DEFAULT_CHUNK_BYTES = 16 * 2**20
#: Decompressed bytes per piece of a chunk: a chunk is a few pieces, each one copy of the
#: decompressor's output cut at a line end (Polars reads a short list of buffers as fast as one;
#: measured: 4 pieces cost the same as 1, 27 pieces of ~600 KB cost 10% more).
PIECE_BYTES = 4 * 2**20
#: Compressed bytes fed to the decompressor at a time (also the precision of error offsets).
READ_BYTES = 2**17
_PLAIN_READ_BYTES = 8 * 2**20
UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, eq=False)
class LineChunk:
    """Whole lines of one file, as ``pieces``: each piece is whole lines ending with ``\\n`` (one is
    added to a last line without). A UTF-8 byte order mark at the start of the file is dropped.

    The pieces are the decompressor's own output blocks cut at line ends, so handing a chunk on
    costs no copy into one big buffer (a columnar reader takes the list); ``data`` joins them on
    demand, for the rare paths that want one buffer.
    """

    pieces: tuple[bytes, ...]
    #: 1-based number, within the file, of the first line in the chunk.
    first_line: int
    #: number of lines in the chunk (= its count of ``\\n``).
    line_count: int
    #: bytes of the file (compressed, for zstd) read when this chunk was cut: for progress.
    file_offset: int

    @cached_property
    def data(self) -> bytes:
        """The chunk as one buffer (joined once, on first use)."""
        return self.pieces[0] if len(self.pieces) == 1 else b"".join(self.pieces)

    @property
    def size(self) -> int:
        """Bytes in the chunk."""
        return sum(map(len, self.pieces))


def is_zstd(path: str | Path) -> bool:
    """True if the file is zstd: by its ``.zst``/``.zstd`` suffix or by its magic bytes."""
    path = Path(path)
    if path.suffix.lower() in (".zst", ".zstd"):
        return True
    with open(path, "rb") as handle:
        return handle.read(4) == ZSTD_MAGIC


def _zstd_blocks(path: Path, read_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Decompressed blocks with the compressed offset reached; follows concatenated frames."""
    decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head != ZSTD_MAGIC:
            what = "empty file" if not head else f"bad magic bytes {head.hex()}"
            raise CurationError(f"not a zstd stream ({what})", path=path, position="compressed byte 0")
        handle.seek(0)
        offset = 0  # compressed bytes consumed so far
        produced = 0  # decompressed bytes produced so far
        frame = decompressor.decompressobj()
        in_frame = False
        while True:
            data = handle.read(read_bytes)
            if not data:
                break
            start = offset
            offset += len(data)
            while data:
                try:
                    out = frame.decompress(data)
                except zstandard.ZstdError as error:
                    raise CurationError(
                        f"corrupt zstd data ({error}) in the {len(data)} compressed bytes read there,"
                        f" after {produced} decompressed bytes",
                        path=path,
                        position=f"compressed byte offset {start}",
                    ) from None
                in_frame = True
                if out:
                    produced += len(out)
                    yield out, offset
                if frame.eof:  # a frame ended; more frames may follow in the same file
                    data = frame.unused_data
                    start = offset - len(data)
                    frame = decompressor.decompressobj()
                    in_frame = False
                else:
                    data = b""
        if in_frame and not frame.eof:
            raise CurationError(
                f"truncated zstd stream: the file ends inside a frame after {produced} decompressed bytes",
                path=path,
                position=f"compressed byte offset {offset} (end of file)",
            )


def _plain_blocks(path: Path) -> Iterator[tuple[bytes, int]]:
    offset = 0
    with open(path, "rb") as handle:
        while data := handle.read(_PLAIN_READ_BYTES):
            offset += len(data)
            yield data, offset


def _chunks(path: Path, chunk_bytes: int, read_bytes: int) -> Iterator[LineChunk]:
    blocks = _zstd_blocks(path, read_bytes) if is_zstd(path) else _plain_blocks(path)
    piece_bytes = min(chunk_bytes, PIECE_BYTES)
    pending: list[bytes] = []  # blocks not cut yet (the first may be the end of the last piece's block)
    pending_size = 0
    pieces: list[bytes] = []
    size = 0
    lines = 0
    line = 1
    offset = 0
    first = True
    for block, offset in blocks:
        if first and block.startswith(UTF8_BOM):  # a BOM (plain files saved on Windows) is no data
            block = block[len(UTF8_BOM) :]
        first = False
        pending.append(block)
        pending_size += len(block)
        if pending_size < piece_bytes:
            continue
        cut = block.rfind(b"\n") + 1  # in the newest block only, so a huge line is never rescanned
        if not cut:
            continue
        pending[-1] = memoryview(block)[:cut]
        piece = b"".join(pending)  # the one copy of the data on this side
        pending = [block[cut:]] if cut < len(block) else []
        pending_size = len(block) - cut
        pieces.append(piece)
        size += len(piece)
        lines += count_newlines(piece)
        if size >= chunk_bytes:
            yield LineChunk(tuple(pieces), line, lines, offset)
            line += lines
            pieces, size, lines = [], 0, 0
    if pending_size:
        piece = b"".join(pending)
        if not piece.endswith(b"\n"):
            piece += b"\n"
        pieces.append(piece)
        lines += count_newlines(piece)
    if pieces:
        yield LineChunk(tuple(pieces), line, lines, offset)


def read_line_chunks(
    path: str | Path,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    read_bytes: int = READ_BYTES,
    prefetch: bool = True,
) -> Iterator[LineChunk]:
    """Yield ``path`` as chunks of whole lines of about ``chunk_bytes`` decompressed bytes.

    zstd (by suffix or magic bytes) is decompressed with a 2 GiB window, other files are read as
    is. With ``prefetch`` the next chunk is decompressed in a background thread while the caller
    works on the current one (at most two chunks wait, so memory stays flat).
    """
    path = Path(path)
    if not prefetch:
        yield from _chunks(path, chunk_bytes, read_bytes)
        return
    slots: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for chunk in _chunks(path, chunk_bytes, read_bytes):
                while not stop.is_set():
                    try:
                        slots.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(done)
        except BaseException as error:  # handed to the consumer, raised there
            slots.put(error)

    worker = threading.Thread(target=produce, name=f"zstd-lines:{path.name}", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                slots.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()
