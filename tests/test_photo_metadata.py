"""Photos lose their metadata (GPS position, device, XMP, comments) before they are archived or sent, and keep every
pixel; an empty or broken photo gets a polite answer instead of silence."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from PIL import ExifTags, GifImagePlugin, Image, PngImagePlugin, features

from storage.photo_metadata import BadPhoto, inspect_photo, strip_metadata
from storage.photos import PhotoArchive
from tests.harness import VkResident, buttons, photo_bytes, text_of, world

POLITE = "This photo is empty or damaged. Please send another one."
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>Owner: Ivan Petrov, 12 Secret lane</rdf:RDF></x:xmpmeta>'


def picture(width: int = 48, height: int = 32, seed: int = 1) -> Image.Image:
    """A small picture with some detail, so that lossy re-encoding would show."""
    image = Image.new("RGB", (width, height), (seed * 40 % 256, 120, 200))
    for x in range(width):
        for y in range(0, height, 3):
            image.putpixel((x, (y + x * seed) % height), (x * 5 % 256, y * 7 % 256, (x + y) * 3 % 256))
    return image


def exif_with_gps(orientation: int | None = 6) -> Image.Exif:
    """EXIF as a phone writes it: position, device, owner (and the orientation, if given)."""
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 12 Pro"
    exif[ExifTags.Base.Artist] = "Ivan Petrov"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (55.0, 45.0, 6.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (37.0, 37.0, 4.2)
    return exif


def jpeg_with_metadata(seed: int = 1, orientation: int | None = 6, **options: object) -> bytes:
    """A JPEG carrying GPS EXIF, XMP and a comment, as a phone or an editor saves it."""
    out = io.BytesIO()
    picture(seed=seed).save(
        out, "JPEG", exif=exif_with_gps(orientation), xmp=XMP, comment=b"taken at home, 12 Secret lane", **options
    )
    return out.getvalue()


def pixels(data: bytes) -> bytes:
    """The decoded pixels."""
    with Image.open(io.BytesIO(data)) as image:
        return image.tobytes()


def gps_of(data: bytes) -> dict[int, object]:
    """The GPS tags the photo carries."""
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif().get_ifd(ExifTags.IFD.GPSInfo))


def exif_of(data: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(data)) as image:
        return dict(image.getexif())


def assert_clean(data: bytes, original: bytes) -> None:
    """No position, device, owner, XMP or comment; the same pixels."""
    assert gps_of(data) == {}
    for secret in (b"PhoneMaker", b"Phone 12 Pro", b"Ivan Petrov", b"Secret lane", b"adobe:ns:meta"):
        assert secret not in data, secret
    assert pixels(data) == pixels(original)


def png_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, in order."""
    kinds, i = [], 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kinds.append(data[i + 4 : i + 8])
        i += 12 + length
    return kinds


def archived(photos_dir: Path) -> list[bytes]:
    """The photos in the archive (not the messenger ids kept beside them)."""
    if not photos_dir.exists():
        return []
    return [p.read_bytes() for p in sorted(photos_dir.rglob("*")) if p.is_file() and "." not in p.name]


# The stripping itself


def test_jpeg_loses_gps_xmp_and_comment_and_keeps_pixels_and_orientation() -> None:
    original = jpeg_with_metadata()
    assert gps_of(original) and XMP in original and b"12 Secret lane" in original
    # Phones append more (a second picture, vendor data) after the image's end.
    clean = strip_metadata(original + b"\xff\xd8VENDOR TRAILER Ivan Petrov")
    assert_clean(clean, original)
    assert exif_of(clean) == {ExifTags.Base.Orientation: 6}
    with Image.open(io.BytesIO(clean)) as image:
        assert "comment" not in image.info and "xmp" not in image.info
    # The compressed image data is the original's, byte for byte: nothing was re-encoded.
    assert clean[clean.index(b"\xff\xda") :] == original[original.index(b"\xff\xda") :]
    assert strip_metadata(clean) == clean


def test_progressive_jpeg_without_orientation_keeps_no_exif_at_all() -> None:
    original = jpeg_with_metadata(orientation=None, progressive=True)
    clean = strip_metadata(original)
    assert_clean(clean, original)
    assert b"Exif" not in clean and exif_of(clean) == {}


def test_a_photo_without_metadata_is_left_as_it_is() -> None:
    out = io.BytesIO()
    picture().save(out, "JPEG")
    assert strip_metadata(out.getvalue()) == out.getvalue()
    assert strip_metadata(photo_bytes(3)) == photo_bytes(3)


def test_jpeg_icc_profile_and_adobe_segment_are_kept() -> None:
    out = io.BytesIO()
    profile = b"\x00" * 128 + b"colour profile"
    Image.new("CMYK", (16, 16), (10, 20, 30, 40)).save(out, "JPEG", icc_profile=profile, exif=exif_with_gps(None))
    original = out.getvalue()
    clean = strip_metadata(original)
    assert gps_of(clean) == {} and b"PhoneMaker" not in clean
    with Image.open(io.BytesIO(clean)) as image:
        assert image.info.get("icc_profile") == profile and "adobe" in image.info
    assert pixels(clean) == pixels(original)


def test_png_loses_text_exif_and_time_chunks() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Ivan Petrov")
    info.add_text("Comment", "12 Secret lane " * 20, zip=True)
    info.add_itxt("Location", "Secret lane, Москва", lang="ru")
    info.add(b"tIME", struct.pack(">HBBBBB", 2026, 5, 1, 12, 30, 0))
    info.add(b"caBX", b"content credentials of Ivan Petrov")
    out = io.BytesIO()
    picture().save(out, "PNG", pnginfo=info, exif=exif_with_gps(6))
    original = out.getvalue()
    assert {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf", b"caBX"} <= set(png_chunks(original))
    clean = strip_metadata(original)
    assert_clean(clean, original)
    kinds = png_chunks(clean)
    assert not {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"caBX"} & set(kinds)
    # Only the orientation survives in the EXIF chunk; the image data chunks are untouched.
    assert exif_of(clean) == {ExifTags.Base.Orientation: 6}
    idat = original.index(b"IDAT") - 4
    assert clean[clean.index(b"IDAT") - 4 :] == original[idat:]


@pytest.mark.skipif(not features.check("webp"), reason="this Pillow cannot write WebP")
@pytest.mark.parametrize("lossless", [True, False], ids=["lossless", "lossy"])
def test_webp_loses_exif_and_xmp(lossless: bool) -> None:
    out = io.BytesIO()
    picture().save(out, "WEBP", exif=exif_with_gps(3), xmp=XMP, lossless=lossless)
    original = out.getvalue()
    clean = strip_metadata(original)
    assert_clean(clean, original)
    assert exif_of(clean) == {ExifTags.Base.Orientation: 3}
    with Image.open(io.BytesIO(clean)) as image:
        assert "xmp" not in image.info
    assert strip_metadata(clean) == clean


def test_gif_loses_its_comment_and_keeps_looping() -> None:
    frames = [picture(seed=1).convert("P"), picture(seed=2).convert("P")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], loop=0, comment=b"Ivan Petrov at home")
    original = out.getvalue()
    clean = strip_metadata(original)
    assert b"Ivan Petrov" not in clean
    with Image.open(io.BytesIO(clean)) as image:
        assert isinstance(image, GifImagePlugin.GifImageFile)
        assert image.n_frames == 2 and image.info.get("loop") == 0
    assert pixels(clean) == pixels(original)


@pytest.mark.parametrize(
    "data",
    [b"", b"not a picture at all", b"%PDF-1.4\n", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"\x00" * 1000],
    ids=["empty", "text", "pdf", "jpeg-start", "png-signature", "zeros"],
)
def test_empty_and_non_images_are_bad_photos(data: bytes) -> None:
    with pytest.raises(BadPhoto):
        inspect_photo(data)
    with pytest.raises(BadPhoto):
        strip_metadata(data)


def test_an_image_in_a_format_that_is_not_cleaned_is_a_bad_photo() -> None:
    out = io.BytesIO()
    picture().save(out, "TIFF", exif=exif_with_gps())
    with pytest.raises(BadPhoto):
        strip_metadata(out.getvalue())


async def test_the_archive_keeps_the_clean_photo_and_drops_the_originals_ids(tmp_path: Path) -> None:
    archive = PhotoArchive(tmp_path / "photos")
    original = jpeg_with_metadata()
    digest = await archive.put(original, {"tg1": "file-id-of-the-original"})
    kept = await archive.get(digest)
    assert_clean(kept, original)
    # Sending by the original's id would send its metadata again: the clean bytes get uploaded instead.
    assert await archive.alias(digest, "tg1") is None
    plain = photo_bytes(4)
    assert await archive.get(await archive.put(plain, {"tg1": "file-id"})) == plain
    assert await archive.alias(await archive.put(plain), "tg1") == "file-id"
    for bad in (b"", b"junk"):
        with pytest.raises(BadPhoto):
            await archive.put(bad)
    assert sorted(archived(tmp_path / "photos")) == sorted([kept, plain])


# Through the real bot


async def test_telegram_photos_reach_the_staff_and_the_archive_without_metadata(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1301)
        question = await resident.say("/new")
        [question] = await resident.press(question, "Roads")
        await resident.say("Deep pothole by the school")
        await resident.say("Mira avenue 1")
        before = jpeg_with_metadata(seed=2)
        summary = await resident.say(photo=before)
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)
        assert card["method"] == "sendPhoto" and "Deep pothole by the school" in text_of(card)
        shown = await w.client.file_bytes(card["photo_file_ids"][-1])
        assert_clean(shown, before)
        assert exif_of(shown) == {ExifTags.Base.Orientation: 6}
        # Not sent by the resident's file_id (that one names the photo with its metadata): uploaded clean.
        theirs = [m for m in await w.client.history(resident.id) if m.get("photo") and not m["from"]["is_bot"]]
        assert card["photo_file_ids"][-1] != theirs[-1]["photo"][-1]["file_id"]
        assert archived(w.settings.photos_dir) == [shown]

        # An official's "after" photo reaches the resident clean too.
        after = jpeg_with_metadata(seed=3)
        since = await resident.mark()
        [ack] = await w.official.reply(card, photo=after, caption="/resolve Patched")
        assert "resolved" in text_of(ack)
        [resolution] = await resident.wait(since)
        assert resolution["method"] == "sendPhoto"
        assert_clean(await w.client.file_bytes(resolution["photo_file_ids"][-1]), after)
        assert len(archived(w.settings.photos_dir)) == 2
        for kept in archived(w.settings.photos_dir):
            assert gps_of(kept) == {} and b"Secret lane" not in kept


async def test_telegram_empty_or_broken_photo_gets_a_polite_answer_and_changes_nothing(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        resident = w.resident(1302)
        question = await resident.say("/new")
        [question] = await resident.press(question, "Roads")
        await resident.say("Broken bench in the park")
        question = await resident.say("Park lane 3")
        assert "photo" in text_of(question).lower()
        empty = (await w.client.upload_file(b"", "photo"))["photo"][-1]["file_id"]
        junk = (await w.client.upload_file(b"this is not a picture", "photo"))["photo"][-1]["file_id"]
        for file_id in (empty, junk):
            since = await resident.mark()
            [reply] = await resident.send(photo_file_id=file_id)
            assert text_of(reply) == POLITE
            assert await resident.quiet(since) == [reply]
        assert archived(w.settings.photos_dir) == []
        # The draft still waits for its photo.
        summary = await resident.say(photo=photo_bytes(8))
        assert "Broken bench in the park" in text_of(summary) and "Send" in buttons(summary)
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)

        # An official's empty photo: the same polite line in the staff chat, and the report stays open.
        since = await resident.mark()
        [answer] = await w.official.reply(card, photo_file_id=empty, caption="/resolve Fixed")
        assert text_of(answer) == POLITE
        assert await resident.quiet(since) == []
        my = await resident.say("/my")
        assert "Resolved" not in text_of(my)


async def test_vk_photos_reach_the_staff_without_metadata_and_bad_ones_get_a_polite_answer(tmp_path: Path) -> None:
    async with world(tmp_path, vk=True) as w:
        assert w.vk is not None
        resident = VkResident(w.vk.client, 3301, "en")
        welcome = await resident.say("Start")
        [question] = await resident.press(welcome, "New report")
        [question] = await resident.press(question, "Roads")
        question = await resident.say("Pothole by the school")
        assert "Where is it?" in question["text"]
        question = await resident.say("Nevsky 1")
        for bad in (b"", b"not a picture"):
            [reply] = await resident.send(photos=[bad])
            assert reply["text"] == POLITE
        assert archived(w.settings.photos_dir) == []

        before = jpeg_with_metadata(seed=4)
        summary = await resident.say(photos=[before])
        assert "Pothole by the school" in summary["text"]
        since = await w.official.mark()
        await resident.press(summary, "Send")
        [card] = await w.official.wait(since)
        shown = await w.client.file_bytes(card["photo_file_ids"][-1])
        assert_clean(shown, before)
        assert archived(w.settings.photos_dir) == [shown]
