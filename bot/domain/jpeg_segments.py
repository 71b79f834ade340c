"""A JPEG's metadata taken out without decoding or encoding a pixel: the file's own compressed
data kept byte for byte, so a photo that needs no other change is sent as it came, neither
re-encoded (tens of milliseconds for a large one) nor degraded by a second compression."""

from __future__ import annotations

SOI = 0xD8
EOI = 0xD9
SOS = 0xDA
APP0, APP14, APP15 = 0xE0, 0xEE, 0xEF
COM = 0xFE
TEM = 0x01
RST0, RST7 = 0xD0, 0xD7
# Frames coded as every decoder reads them: baseline, extended and progressive Huffman. The
# others (lossless, hierarchical, arithmetic coding) are re-encoded rather than passed on.
COMMON_FRAMES = (0xC0, 0xC1, 0xC2)
OTHER_FRAMES = frozenset((0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
# APP14 "Adobe" says how the colours are coded (RGB or YCbCr): decoders need it to read the
# colours right, and it holds nothing about the picture or its maker.
ADOBE = b"Adobe"


class NotPlainJpeg(ValueError):
    """Bytes whose segments do not follow one another as a JPEG's must."""


def without_metadata(data: bytes) -> bytes:
    """`data`, a JPEG, with its application segments (EXIF, XMP, ICC profiles, thumbnails,
    maker notes, JFIF) and comments left out, and nothing after its end; every other
    segment and all the compressed data as they were. NotPlainJpeg when the segments do not
    add up, or the frame is not one of COMMON_FRAMES."""
    if data[:2] != bytes((0xFF, SOI)):
        raise NotPlainJpeg("no start of image")
    kept = [data[:2]]
    position = 2
    while True:
        marker, position = _next_marker(data, position)
        if marker == EOI:
            kept.append(bytes((0xFF, EOI)))
            return b"".join(kept)
        if marker in OTHER_FRAMES:
            raise NotPlainJpeg("a kind of JPEG few decoders read")
        if marker == TEM or RST0 <= marker <= RST7:
            kept.append(bytes((0xFF, marker)))
            continue
        if position + 2 > len(data):
            raise NotPlainJpeg("a segment is cut off")
        length = int.from_bytes(data[position : position + 2], "big")
        end = position + length
        if length < 2 or end > len(data):
            raise NotPlainJpeg("a segment is cut off")
        if not _is_metadata(marker, data[position + 2 : end]):
            kept.append(bytes((0xFF, marker)) + data[position:end])
        position = end
        if marker == SOS:
            scan_end = _end_of_scan(data, position)
            kept.append(data[position:scan_end])
            position = scan_end


def _is_metadata(marker: int, payload: bytes) -> bool:
    if marker == COM:
        return True
    if APP0 <= marker <= APP15:
        return not (marker == APP14 and payload.startswith(ADOBE))
    return False


def _next_marker(data: bytes, position: int) -> tuple[int, int]:
    """The marker at `position` (fill bytes before it skipped), and where its segment starts."""
    if position >= len(data) or data[position] != 0xFF:
        raise NotPlainJpeg("a marker was expected")
    while position < len(data) and data[position] == 0xFF:
        position += 1
    if position >= len(data):
        raise NotPlainJpeg("the file ends inside a marker")
    return data[position], position + 1


def _end_of_scan(data: bytes, position: int) -> int:
    """Where a scan's compressed data ends: at the first marker that is neither a stuffed
    0xFF (0xFF00) nor a restart (kept in the data, as decoders expect them)."""
    while True:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= len(data):
            raise NotPlainJpeg("a scan is cut off")
        following = data[position + 1]
        if following == 0x00 or RST0 <= following <= RST7:
            position += 2
        elif following == 0xFF:
            position += 1  # fill bytes before the next marker
        else:
            return position
