"""Uploads a user might attach, good, odd and hostile, and what the bot makes of each."""

from __future__ import annotations

import io
import json
import platform
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from bot.domain import jpeg_segments
from bot.domain.images import (
    MAX_SIDE,
    CheckedImage,
    ImageRejected,
    NotAnImage,
    fit_for_upload,
    generated_cost,
    prepare_reference,
    read_generated,
    reference_cost,
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


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def with_segments(jpeg: bytes, *segments: bytes) -> bytes:
    """`jpeg` with `segments` inserted right after its start of image."""
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


@pytest.mark.parametrize("progressive", [False, True])
def test_an_upright_rgb_jpeg_keeps_its_compressed_data_without_its_metadata(
    progressive: bool,
) -> None:
    photo = Image.effect_noise((300, 200), 50).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0112] = 1  # upright already
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0)}
    uploaded = encode(
        photo,
        "JPEG",
        quality=90,
        exif=exif.tobytes(),
        comment=b"my secret",
        progressive=progressive,
    )
    uploaded = with_segments(uploaded, segment(0xED, b"Photoshop 3.0\x00iptc words"))
    uploaded += b"whatever was appended after the end"

    prepared = prepare_reference(uploaded)

    result = opened(prepared.data)
    original = opened(uploaded)
    assert (prepared.format, prepared.width, prepared.height) == ("jpeg", 300, 200)
    assert result.tobytes() == original.tobytes(), "not compressed a second time"
    for secret in (b"PhoneMaker", b"my secret", b"iptc", b"appended", b"Exif", b"JFIF"):
        assert secret not in prepared.data
    assert not result.getexif()
    assert prepared.data.endswith(b"\xff\xd9")
    assert len(prepared.data) < len(uploaded)


def test_the_adobe_colour_segment_stays_and_a_thumbnail_goes() -> None:
    plain = encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")
    adobe = segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01")  # YCbCr, as coded
    thumbnail = segment(0xE1, b"Exif\x00\x00" + encode(Image.new("RGB", (8, 8)), "JPEG"))
    prepared = prepare_reference(with_segments(plain, adobe, thumbnail))
    assert adobe in prepared.data
    assert prepared.data.count(b"\xff\xd8") == 1, "the thumbnail's own image is gone"
    assert opened(prepared.data).size == (64, 64)


def test_a_jpeg_kind_few_decoders_read_is_not_kept() -> None:
    lossless_frame = segment(0xC3, b"\x08\x00\x08\x00\x08\x01\x01\x11\x00")
    with pytest.raises(jpeg_segments.NotPlainJpeg):
        jpeg_segments.without_metadata(b"\xff\xd8" + lossless_frame + b"\xff\xd9")


@pytest.mark.parametrize(
    "photo",
    [
        Image.new("RGB", (1500, 900), (200, 100, 50)),  # too large: made smaller
        Image.new("L", (60, 60), 128),  # greyscale: made RGB
    ],
)
def test_a_jpeg_that_needs_a_change_is_encoded_again(photo: Image.Image) -> None:
    uploaded = encode(photo, "JPEG", comment=b"my secret")
    prepared = prepare_reference(uploaded)
    assert opened(prepared.data).mode == "RGB"
    assert max(prepared.width, prepared.height) <= MAX_SIDE
    assert b"my secret" not in prepared.data


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


# The memory a check takes, known before it starts (bot/memory.py budgets it).


def test_the_cost_of_an_upload_is_known_from_its_header_alone() -> None:
    # Pixel data that would not even decode: the header is all the cost needs.
    cost = reference_cost(png_header_only(6000, 6000))
    assert (cost.width, cost.height) == (6000, 6000)
    assert cost.bytes >= 6000 * 6000 * 8  # decoded, and a converted copy, 4 bytes a pixel each


def test_the_cost_of_a_photo_is_that_of_the_scale_it_is_decoded_at() -> None:
    photo = encode(Image.new("RGB", (4096, 3072), (200, 100, 50)), "JPEG")
    cost = reference_cost(photo)
    assert (cost.width, cost.height) == (2048, 1536)  # decoded at half of each side
    assert cost.bytes < 4096 * 3072 * 4


def test_the_cost_refuses_what_the_check_would_refuse() -> None:
    with pytest.raises(ImageRejected, match="40 megapixels"):
        reference_cost(png_header_only(8000, 6000))
    with pytest.raises(ImageRejected, match="not a PNG"):
        reference_cost(b"hello")


def test_the_cost_of_a_generated_image_is_known_from_its_header() -> None:
    cost = generated_cost(encode(Image.new("RGB", (1024, 1024)), "PNG"))
    assert (cost.width, cost.height) == (1024, 1024)
    assert cost.bytes >= 1024 * 1024 * 4
    with pytest.raises(NotAnImage):
        generated_cost(b"<html>")


SIDE = 3000
_GRADIENT = Image.linear_gradient("L").resize((SIDE, SIDE))


def _rgb() -> Image.Image:
    return Image.merge("RGB", [_GRADIENT] * 3)


def _palette_with_transparency() -> bytes:
    palette = _GRADIENT.quantize(16)
    return encode(palette, "PNG", transparency=0)


def _rotated_with_profile() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(_rgb(), "PNG", icc_profile=profile, exif=exif.tobytes())


# Every mode a file can decode to, and the conversions each goes through (9 megapixels each).
MODES = {
    "palette": lambda: encode(_GRADIENT.convert("P"), "PNG"),
    "palette with transparency": _palette_with_transparency,
    "rgba": lambda: encode(Image.merge("RGBA", [_GRADIENT] * 4), "PNG"),
    "grey with alpha": lambda: encode(Image.merge("LA", [_GRADIENT] * 2), "PNG"),
    "grey": lambda: encode(_GRADIENT, "PNG"),
    "16-bit grey": lambda: encode(_GRADIENT.convert("I;16"), "PNG"),
    "rotated rgb with a profile": _rotated_with_profile,
    "cmyk jpeg": lambda: encode(_rgb().convert("CMYK"), "JPEG", quality=90),
    "gif": lambda: encode(_GRADIENT.convert("P"), "GIF"),
    "webp with alpha": lambda: encode(Image.merge("RGBA", [_GRADIENT] * 4), "WEBP", quality=50),
}

# Measures one check in a fresh interpreter: its peak resident memory, from just before.
_MEASURE = """
import json, sys
from pathlib import Path
from bot.domain.images import prepare_reference, reference_cost
from bot.memory import return_large_buffers_to_the_system

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

return_large_buffers_to_the_system()  # as the bot does at start-up
data = Path(sys.argv[1]).read_bytes()
cost = reference_cost(data)
Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from now
before = status("VmRSS")
prepare_reference(data)
print(json.dumps({"cost": cost.bytes, "peak": status("VmHWM") - before}))
"""


@pytest.mark.skipif(platform.system() != "Linux", reason="reads /proc")
@pytest.mark.parametrize("mode", sorted(MODES))
def test_checking_an_upload_takes_no_more_memory_than_its_cost(mode: str, tmp_path: Path) -> None:
    path = tmp_path / "upload"
    path.write_bytes(MODES[mode]())
    root = Path(__file__).resolve().parents[2]
    child = subprocess.run(  # noqa: S603 - this interpreter, this file's own script
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PYTHONPATH": str(root)},
        check=True,
        timeout=120,
    )
    found = json.loads(child.stdout)
    peak, cost = found["peak"] / 2**20, found["cost"] / 2**20
    assert peak <= cost, f"{mode}: peak {peak:.0f} MB over its cost of {cost:.0f} MB"
