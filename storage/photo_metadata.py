"""Photos without metadata: EXIF (GPS position, device, owner), XMP, IPTC and comments removed, pixels untouched.

The work is done on the container (JPEG segments, PNG chunks, WebP RIFF chunks, GIF blocks), never by decoding
and re-encoding: the compressed image data is copied byte for byte, so the pixels stay identical and no quality is
lost. It is written by hand because no maintained library does this for JPEG, PNG and WebP: Pillow removes
metadata only by saving the image again (a re-encode, lossy for JPEG), and piexif (unmaintained since 2019) handles
only EXIF in JPEG and WebP, not XMP, comments or PNG. Pillow is used here only to read headers: to tell a picture
from junk and to read the EXIF orientation, which is written back alone so the photo is not shown sideways.

Kept, because they change how the pixels look and say nothing about the person: JFIF (APP0), ICC colour profiles
(APP2 "ICC_PROFILE"), the Adobe colour transform (APP14 "Adobe"), PNG's colour and transparency chunks, WebP's ICCP
and animation chunks, GIF's looping extension. Whatever follows the end of the image (a JPEG's EOI, PNG's IEND,
the RIFF size) is dropped: phones append further images and vendor metadata there.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from PIL import ExifTags, Image

# Formats whose containers this module knows how to clean (BMP carries no metadata at all).
CLEANABLE = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP"})

_JPEG_SOI = b"\xff\xd8"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Ancillary PNG chunks that change how the picture (or its animation) looks; tEXt, zTXt, iTXt, eXIf, tIME and
# private chunks (C2PA's caBX, say) go. Critical chunks (an upper-case first letter) are always kept.
_PNG_KEPT = frozenset(
    {b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB", b"cICP", b"mDCV", b"cLLI", b"mDCv", b"cLLi"}
    | {b"bKGD", b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT"}
)
# WebP chunks that make up the picture; EXIF, XMP and unknown chunks go.
_WEBP_KEPT = frozenset({b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
_EXIF_HEADER = b"Exif\x00\x00"
_ORIENTATION = ExifTags.Base.Orientation
# VP8X feature flags (the first byte of its payload).
_WEBP_EXIF_FLAG = 0x08
_WEBP_XMP_FLAG = 0x04
# Application extensions a GIF needs to play as made (looping); all others are vendor data (XMP among them).
_GIF_KEPT_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")


class BadPhoto(Exception):
    """The bytes are empty, not an image, damaged, or in a format the bot does not keep."""


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    """What the header of a photo says."""

    format: str
    width: int
    height: int


def inspect_photo(data: bytes) -> PhotoInfo:
    """The photo's format and size, read from its header; BadPhoto unless it is a picture this module can clean."""
    if not data:
        raise BadPhoto("empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            # A multi-picture JPEG (MPO) is a JPEG with more images after its end, which stripping drops.
            kind = "JPEG" if image.format == "MPO" else str(image.format)
            info = PhotoInfo(kind, image.width, image.height)
            # Checks the structure without decoding the pixels (PNG chunk CRCs, for one).
            image.verify()
    except Exception as exc:  # Pillow's parsers raise many kinds of errors on junk or hostile bytes
        raise BadPhoto(type(exc).__name__) from None
    if info.format not in CLEANABLE:
        raise BadPhoto(f"unsupported format {info.format}")
    if info.width < 1 or info.height < 1:
        raise BadPhoto("no pixels")
    return info


def strip_metadata(data: bytes) -> bytes:
    """The same photo without its metadata (the pixels byte for byte the same); BadPhoto if it is not a photo."""
    info = inspect_photo(data)
    try:
        match info.format:
            case "JPEG":
                clean = _strip_jpeg(data)
            case "PNG":
                clean = _strip_png(data)
            case "WEBP":
                clean = _strip_webp(data)
            case "GIF":
                clean = _strip_gif(data)
            case _:
                clean = data
    except (IndexError, struct.error) as exc:
        raise BadPhoto(f"damaged {info.format}: {type(exc).__name__}") from None
    # The header must still read as the same picture: a cheap guard against a cut in the wrong place.
    if clean != data and inspect_photo(clean) != info:
        raise BadPhoto(f"damaged {info.format}")
    return clean


def _orientation(exif: bytes) -> int:
    """The EXIF Orientation tag (1, upright, when absent or unreadable); `exif` with or without "Exif\\0\\0"."""
    parsed = Image.Exif()
    try:
        parsed.load(exif)
        value = parsed.get(_ORIENTATION, 1)
    except Exception:  # a damaged EXIF block only loses its orientation
        return 1
    return value if isinstance(value, int) and 2 <= value <= 8 else 1


def _orientation_only(orientation: int) -> bytes:
    """A minimal EXIF block (with the "Exif\\0\\0" header) holding nothing but the orientation."""
    exif = Image.Exif()
    exif[_ORIENTATION] = orientation
    return exif.tobytes()


# JPEG


def _keep_jpeg_segment(marker: int, payload: bytes) -> bool:
    if marker == 0xE0:
        return payload.startswith((b"JFIF\x00", b"AVI1"))  # JFXX (a thumbnail) goes
    if marker == 0xE2:
        return payload.startswith(b"ICC_PROFILE\x00")
    if marker == 0xEE:
        return payload.startswith(b"Adobe")
    # APP1 (EXIF, XMP), APP3-APP13 (IPTC and vendor data), APP15, COM: metadata.
    return not (0xE0 <= marker <= 0xEF or marker == 0xFE)


def _strip_jpeg(data: bytes) -> bytes:
    out = bytearray(_JPEG_SOI)
    orientation = 1
    exif_at: int | None = None  # where a minimal EXIF goes: after SOI, or after a JFIF APP0 that follows it
    i = 2
    scanning = False
    n = len(data)
    while i < n:
        if scanning:
            # Entropy-coded data runs to the next marker (FF00 is a stuffed byte, FFD0-FFD7 restart markers).
            j = data.find(b"\xff", i)
            while j != -1 and j + 1 < n and (data[j + 1] == 0x00 or 0xD0 <= data[j + 1] <= 0xD7):
                j = data.find(b"\xff", j + 2)
            if j == -1 or j + 1 >= n:
                out += data[i:]  # no EOI: a truncated file keeps what it has
                break
            out += data[i:j]
            i = j
            scanning = False
            continue
        if data[i] != 0xFF:
            i += 1  # stray bytes between segments, which decoders skip too
            continue
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1  # fill byte
            continue
        if marker == 0xD9:
            out += b"\xff\xd9"
            break  # EOI: what follows is not this image
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            out += data[i : i + 2]
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2 or i + 2 + length > n:
            raise BadPhoto("JPEG segment runs past the end")
        segment = data[i : i + 2 + length]
        payload = segment[4:]
        if marker == 0xE1 and payload.startswith(_EXIF_HEADER) and orientation == 1:
            orientation = _orientation(payload)
        if _keep_jpeg_segment(marker, payload):
            out += segment
            if marker == 0xE0 and exif_at is None and len(out) == 2 + len(segment):
                exif_at = len(out)
        i += 2 + length
        if marker == 0xDA:
            scanning = True
    if orientation != 1:
        exif = _orientation_only(orientation)
        at = exif_at if exif_at is not None else 2
        out[at:at] = b"\xff\xe1" + struct.pack(">H", 2 + len(exif)) + exif
    return bytes(out)


# PNG


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _strip_png(data: bytes) -> bytes:
    out = bytearray(data[: len(_PNG_SIGNATURE)])
    i = len(_PNG_SIGNATURE)
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        end = i + 12 + length
        if end > len(data):
            raise BadPhoto("PNG chunk runs past the end")
        if kind == b"eXIf" and (orientation := _orientation(data[i + 8 : i + 8 + length])) != 1:
            out += _png_chunk(b"eXIf", _orientation_only(orientation)[len(_EXIF_HEADER) :])
        elif not kind[0] & 0x20 or kind in _PNG_KEPT:  # bit 5 of the first letter: ancillary
            out += data[i:end]  # as it was, CRC included
        i = end
        if kind == b"IEND":
            break
    return bytes(out)


# WebP


def _strip_webp(data: bytes) -> bytes:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise BadPhoto("not a RIFF WebP")
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = min(len(data), 8 + riff_size)
    chunks: list[bytes] = []
    orientation = 1
    i = 12
    while i + 8 <= end:
        kind = data[i : i + 4]
        (size,) = struct.unpack("<I", data[i + 4 : i + 8])
        stop = i + 8 + size + (size & 1)  # chunks are padded to an even size
        if i + 8 + size > end:
            raise BadPhoto("WebP chunk runs past the end")
        if kind == b"EXIF":
            orientation = _orientation(data[i + 8 : i + 8 + size])
        elif kind in _WEBP_KEPT:
            chunks.append(data[i : min(stop, end)])
        i = stop
    if orientation != 1:
        exif = _orientation_only(orientation)[len(_EXIF_HEADER) :]
        chunks.append(b"EXIF" + struct.pack("<I", len(exif)) + exif + b"\x00" * (len(exif) & 1))
    if chunks and chunks[0][:4] == b"VP8X":
        flags = chunks[0][8] & ~(_WEBP_XMP_FLAG | _WEBP_EXIF_FLAG)
        if orientation != 1:
            flags |= _WEBP_EXIF_FLAG
        chunks[0] = chunks[0][:8] + bytes([flags]) + chunks[0][9:]
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# GIF


def _gif_colours(flags: int) -> int:
    """The size of the colour table these packed flags announce (none without the table bit)."""
    return 3 << ((flags & 0x07) + 1) if flags & 0x80 else 0


def _gif_sub_blocks(data: bytes, i: int) -> int:
    """The offset just past a chain of data sub-blocks starting at `i` (its zero-length terminator included)."""
    while True:
        size = data[i]
        i += 1 + size
        if size == 0:
            return i


def _strip_gif(data: bytes) -> bytes:
    flags = data[10]
    i = 13 + _gif_colours(flags)  # header, screen descriptor, global colours
    out = bytearray(data[:i])
    while i < len(data):
        block = data[i]
        if block == 0x3B:  # trailer
            out.append(0x3B)
            break
        if block == 0x2C:  # an image: descriptor, local colours, LZW code size, data
            local = data[i + 9]
            start = i
            i += 10 + _gif_colours(local) + 1
            i = _gif_sub_blocks(data, i)
            out += data[start:i]
            continue
        if block != 0x21:
            raise BadPhoto("GIF block expected")
        label = data[i + 1]
        end = _gif_sub_blocks(data, i + 2)
        if label == 0xFE:
            pass  # a comment
        elif label == 0xFF:
            if data[i + 3 : i + 3 + data[i + 2]] in _GIF_KEPT_APPLICATIONS:
                out += data[i:end]
        else:
            out += data[i:end]  # graphic control, plain text
        i = end
    return bytes(out)
