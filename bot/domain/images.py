"""Image handling: checking and cleaning what users upload, and reading what the API returns."""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageCms, ImageOps

from bot.domain.errors import UserError
from bot.domain.translatable import mark

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 1024
THUMBNAIL_SIDE = 256

# How an image is named in the refusals below, unless the caller names it ("The pose image").
THE_IMAGE = mark("The image")
# An upload over MAX_UPLOAD_BYTES, however it was found out; `size` in MiB.
TOO_BIG = mark("{label} is {size} MiB; the limit is 10 MiB.")

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF"}
_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_SRGB = ImageCms.createProfile("sRGB")


class ImageRejected(UserError):
    """An upload that cannot be used; the message is written for the user."""


class NotAnImage(Exception):
    """Bytes from the API that are not a complete image."""


@dataclass(frozen=True)
class CheckedImage:
    """An image's bytes and what was learnt of them when they were checked: a reference image
    ready to send (oriented, stripped of metadata, at most MAX_SIDE px), or an image the API
    produced (decoded completely). Every layer passes this one type."""

    data: bytes = field(repr=False)
    format: str
    width: int
    height: int

    def as_base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    @property
    def mime(self) -> str:
        return _MIME[self.format]


def sniff(data: bytes) -> str | None:
    """The image format the bytes themselves announce, whatever the file is called."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def prepare_reference(data: bytes, *, label: str = THE_IMAGE) -> CheckedImage:
    """Check an uploaded image and return a clean copy; raise ImageRejected saying why not."""
    if not data:
        raise ImageRejected(mark("{label} is an empty file."), label=label)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageRejected(TOO_BIG, label=label, size=f"{len(data) / 2**20:.1f}")
    kind = sniff(data)
    if kind is None:
        raise ImageRejected(mark("{label} is not a PNG, JPEG, WEBP or GIF image."), label=label)
    image = _open_checked(data, kind, label)
    image = _normalise(image)
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    # Photos stay JPEG (small, and they were lossy already); drawings stay lossless.
    out_format = "jpeg" if kind == "jpeg" else "png"
    return CheckedImage(_encode(image, out_format), out_format, image.width, image.height)


def _open_checked(data: bytes, kind: str, label: str) -> Image.Image:
    """Open and fully decode, refusing a decompression bomb before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[kind]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected(
            mark("{label} is too large to process (over 40 megapixels)."), label=label
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageRejected(
            mark("{label} could not be read: the file is damaged."), label=label
        ) from error
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageRejected(
            mark(
                "{label} is {width}×{height} pixels; the limit is 40 megapixels. "
                "Please send a smaller image."
            ),
            label=label,
            width=width,
            height=height,
        )
    if width < 1 or height < 1:
        raise ImageRejected(mark("{label} has no pixels."), label=label)
    try:
        image.seek(0)  # an animation is posed from its first frame
        if kind == "jpeg":
            # Let the decoder scale down by 2, 4 or 8 while it still leaves the long side at
            # MAX_SIDE or more: a 12 MP phone photo then takes a quarter of the memory.
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageRejected(
            mark("{label} could not be read: the file is damaged or cut off."), label=label
        ) from error
    return image


def _normalise(image: Image.Image) -> Image.Image:
    """Upright, sRGB, 8-bit RGB; transparency flattened onto white. Metadata does not survive."""
    icc = image.info.get("icc_profile")
    ImageOps.exif_transpose(image, in_place=True)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits instead of clipping everything to white.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    if icc and image.mode in ("RGB", "CMYK"):
        image = _to_srgb(image, icc)
    clean = image.convert("RGB")
    # Pillow carries `info` (EXIF, ICC, comments) into what it saves: start from nothing.
    clean.info = {}
    return clean


def _to_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    """Colour-convert with the embedded profile, so a wide-gamut photo keeps its colours."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB") or image
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile is not worth refusing the image for


def _encode(image: Image.Image, out_format: str, *, quality: int = 95) -> bytes:
    buffer = io.BytesIO()
    if out_format == "jpeg":
        image.save(buffer, "JPEG", quality=quality, optimize=True)
    else:
        image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def thumbnail(image: CheckedImage, side: int = THUMBNAIL_SIDE) -> CheckedImage:
    """A small copy of an image already prepared (so trusted), for listings."""
    with Image.open(io.BytesIO(image.data)) as opened:
        small = opened.convert("RGB")
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    return CheckedImage(
        _encode(small, image.format, quality=85), image.format, small.width, small.height
    )


def read_generated(data: bytes) -> CheckedImage:
    """Check that bytes from the API are a complete PNG, JPEG or WEBP image."""
    kind = sniff(data)
    if kind not in _MIME:
        raise NotAnImage("the response body is not a PNG, JPEG or WEBP image")
    try:
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[kind]]) as image:
            image.load()
            width, height = image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise NotAnImage(f"the {kind} image in the response is damaged: {error}") from None
    return CheckedImage(data, kind, width, height)


def fit_for_upload(image: CheckedImage, limit: int) -> CheckedImage:
    """The image itself when it fits Discord's upload limit, else a smaller JPEG of it."""
    if len(image.data) <= limit:
        return image
    with Image.open(io.BytesIO(image.data)) as opened:
        picture = opened.convert("RGB")
    for scale in (1.0, 0.75, 0.5, 0.35, 0.25):
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        resized = picture if scale == 1.0 else picture.resize(size, Image.Resampling.LANCZOS)
        for quality in (90, 80, 70):
            data = _encode(resized, "jpeg", quality=quality)
            if len(data) <= limit:
                return CheckedImage(data, "jpeg", resized.width, resized.height)
    raise NotAnImage(f"the image cannot be made smaller than {limit} bytes")
