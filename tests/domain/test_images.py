"""Uploads a user might attach, good, odd and hostile, and what the bot makes of each."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageCms

from bot.domain.images import (
    MAX_SIDE,
    CheckedImage,
    ImageRejected,
    NotAnImage,
    fit_for_upload,
    prepare_reference,
    read_generated,
    sniff,
)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming a size without carrying the pixels: what a decompression bomb looks like."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64, 9)  # a few rows; the rest would inflate from nothing
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def opened(prepared_data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(prepared_data))
    image.load()
    return image


def exif_photo(orientation: int) -> bytes:
    """A 400×200 JPEG, left half red, with an orientation tag and a GPS position."""
    image = Image.new("RGB", (400, 200), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    gps = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x8825] = gps
    return encode(image, "JPEG", exif=exif.tobytes(), quality=95)


# Refused: each with the reason a user would read.
REFUSED = {
    "empty file": (b"", "empty"),
    "text named .png": (b"hello, this is not an image\n" * 10, "not a PNG, JPEG, WEBP or GIF"),
    "html page": (b"<!doctype html><html><body>hi</body></html>", "not a PNG"),
    "svg drawing": (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        "not a PNG",
    ),
    "bmp image": (encode(Image.new("RGB", (8, 8)), "BMP"), "not a PNG"),
    "random bytes": (bytes(range(256)) * 8, "not a PNG"),
    "over 10 MiB": (b"\x89PNG\r\n\x1a\n" + b"\x00" * (11 * 1024 * 1024), "limit is 10 MiB"),
    "20000x20000 bomb": (png_header_only(20000, 20000), "40 megapixels"),
    "48 megapixel header": (png_header_only(8000, 6000), "40 megapixels"),
    "png header only": (b"\x89PNG\r\n\x1a\n", "damaged"),
    "truncated jpeg": (
        encode(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG")[:3000],
        "damaged",
    ),
    "truncated png": (encode(Image.effect_noise((256, 256), 64), "PNG")[:5000], "damaged"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_unusable_uploads_are_refused_with_a_reason(name: str) -> None:
    data, reason = REFUSED[name]
    with pytest.raises(ImageRejected, match=reason):
        prepare_reference(data, label="The character image")


def test_refusal_names_the_image_it_is_about() -> None:
    with pytest.raises(ImageRejected, match=r"^The pose image is an empty file"):
        prepare_reference(b"", label="The pose image")


def test_one_pixel_image_is_accepted() -> None:
    prepared = prepare_reference(encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"))
    assert (prepared.width, prepared.height) == (1, 1)
    assert opened(prepared.data).getpixel((0, 0)) == (10, 20, 30)


def test_large_photo_is_downscaled_to_1024_on_the_long_side() -> None:
    photo = encode(Image.new("RGB", (4000, 3000), (200, 100, 50)), "JPEG")
    prepared = prepare_reference(photo)
    assert (prepared.width, prepared.height) == (MAX_SIDE, 768)
    assert prepared.format == "jpeg"
    assert opened(prepared.data).size == (1024, 768)


def test_exif_orientation_is_applied_and_all_metadata_removed() -> None:
    prepared = prepare_reference(exif_photo(orientation=6))  # 6: rotate 90° clockwise to view
    result = opened(prepared.data)
    assert result.size == (200, 400)
    # The red left half ends up on top after the rotation the tag asks for.
    red, _, blue = result.getpixel((100, 50))
    assert red > 200 and blue < 60
    assert not result.getexif()
    assert b"PhoneMaker" not in prepared.data
    assert "exif" not in result.info


def test_animated_gif_is_posed_from_its_first_frame() -> None:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ("red", "lime", "blue")]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    prepared = prepare_reference(gif)
    red, green, blue = opened(prepared.data).convert("RGB").getpixel((32, 32))
    assert red > 200 and green < 60 and blue < 60
    assert prepared.format == "png"


def test_animated_webp_is_posed_from_its_first_frame() -> None:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ("blue", "red")]
    webp = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert sniff(webp) == "webp"
    red, _, blue = opened(prepare_reference(webp).data).getpixel((32, 32))
    assert blue > 200 and red < 60


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk = encode(Image.new("CMYK", (50, 50), (0, 255, 255, 0)), "JPEG")  # pure red in CMYK
    result = opened(prepare_reference(cmyk).data)
    assert result.mode == "RGB"
    red, green, blue = result.getpixel((25, 25))
    assert red > 200 and green < 80 and blue < 80


def test_sixteen_bit_png_keeps_its_tones() -> None:
    grey = Image.new("I;16", (40, 40), 32768)  # mid-grey on a 16-bit scale
    result = opened(prepare_reference(encode(grey, "PNG")).data)
    value = result.convert("L").getpixel((20, 20))
    assert 110 <= value <= 145, "16-bit grey must not be clipped to white"


def test_palette_png_transparency_is_flattened_onto_white() -> None:
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (0, 0, 10, 20))  # left half red, right half transparent (index 0)
    result = opened(prepare_reference(encode(image, "PNG", transparency=0)).data)
    assert result.mode == "RGB"
    assert result.getpixel((5, 10)) == (255, 0, 0)
    assert result.getpixel((15, 10)) == (255, 255, 255)


def test_wide_gamut_profile_is_converted_not_dropped_silently() -> None:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = encode(Image.new("RGB", (30, 30), (0, 128, 255)), "PNG", icc_profile=profile)
    result = opened(prepare_reference(tagged).data)
    assert "icc_profile" not in result.info
    red, _, blue = result.getpixel((15, 15))
    assert blue > 230 and red < 20


def test_name_and_content_type_do_not_matter_only_bytes_do() -> None:
    png = encode(Image.new("RGB", (8, 8)), "PNG")
    jpeg = encode(Image.new("RGB", (8, 8)), "JPEG")
    assert (sniff(png), sniff(jpeg), sniff(b"GIF89a...."), sniff(b"<svg")) == (
        "png",
        "jpeg",
        "gif",
        None,
    )


def test_generated_image_must_decode_completely() -> None:
    jpeg = encode(Image.effect_noise((128, 128), 50).convert("RGB"), "JPEG")
    assert read_generated(jpeg).format == "jpeg"
    with pytest.raises(NotAnImage):
        read_generated(jpeg[: len(jpeg) // 2])
    with pytest.raises(NotAnImage):
        read_generated(b'{"status": "ok"}')
    with pytest.raises(NotAnImage):
        read_generated(encode(Image.new("RGB", (4, 4)), "GIF"))


def test_result_over_the_upload_limit_is_reencoded_to_fit() -> None:
    noisy = Image.merge("RGB", [Image.effect_noise((1024, 1024), 120) for _ in range(3)])
    png = encode(noisy, "PNG")
    assert len(png) > 2_000_000
    image = CheckedImage(png, "png", 1024, 1024)
    assert fit_for_upload(image, len(png)) is image
    fitted = fit_for_upload(image, 500_000)
    assert len(fitted.data) <= 500_000
    assert fitted.format == "jpeg"
    assert opened(fitted.data).size == (fitted.width, fitted.height)
