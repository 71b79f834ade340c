"""Image handling: checking and cleaning what users upload, and reading what the API returns."""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageCms, ImageOps

from bot.domain import jpeg_segments
from bot.domain.errors import UserError
from bot.domain.translatable import mark

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 1024
THUMBNAIL_SIDE = 256
# Pillow holds a decoded pixel in at most 4 bytes, whatever the file's mode (a palette or
# greyscale pixel in 1, 16-bit greyscale in 2, RGB padded to 4 like RGBA and CMYK); a WEBP
# decoder keeps two more copies of the frame (its canvas and the raw bytes it hands Pillow).
# Cleaning an upload then holds at most one more full-size copy (what a frame is converted
# into), and some megabytes whatever the size (decoder state, the thumbnail, its encoding).
# Measured peaks (tests/domain/test_images.py) stay within these costs.
DECODED_BYTES_PER_PIXEL = 4
DECODED_COPIES = {"webp": 3}
DECODING_OVERHEAD_BYTES = 16 * 2**20

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
ORIENTATION = 0x0112  # the EXIF tag


class ImageRejected(UserError):
    """An upload that cannot be used; the message is written for the user."""


class NotAnImage(Exception):
    """Bytes from the API that are not a complete image."""


@dataclass(frozen=True)
class DecodingCost:
    """What decoding an image will hold in memory at its peak, known from its header alone."""

    width: int
    height: int
    bytes: int


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


def reference_cost(data: bytes, *, label: str = THE_IMAGE) -> DecodingCost:
    """The memory `prepare_reference` will take for `data`, from the header alone (no pixel is
    decoded); raises ImageRejected for what `prepare_reference` would refuse before decoding."""
    kind = _kind_of(data, label)
    with _open_checked(data, kind, label) as image:
        width, height = image.size  # after a JPEG's draft: the size it will be decoded at
    return _cost(kind, width, height, len(data), converted_copies=1)


def prepare_reference(data: bytes, *, label: str = THE_IMAGE) -> CheckedImage:
    """Check an uploaded image and return a clean copy; raise ImageRejected saying why not.
    It takes at most `reference_cost(data).bytes` of memory. A JPEG that needs no change but
    its metadata's removal keeps its compressed data as it came: re-encoding it would take
    longer than decoding it, and lose some of its quality."""
    kind = _kind_of(data, label)
    image = _decoded(_open_checked(data, kind, label), label)
    if kind == "jpeg" and _needs_no_pixel_change(image):
        as_sent = _without_metadata(data, image.size)
        if as_sent is not None:
            width, height = image.size
            image.close()
            return CheckedImage(as_sent, "jpeg", width, height)
    image = _normalise(image)
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    # Photos stay JPEG (small, and they were lossy already); drawings stay lossless.
    out_format = "jpeg" if kind == "jpeg" else "png"
    return CheckedImage(_encode(image, out_format), out_format, image.width, image.height)


def _needs_no_pixel_change(image: Image.Image) -> bool:
    """Whether a decoded JPEG is already what cleaning would make of it, its metadata aside:
    8-bit RGB in sRGB (no profile), upright, decoded at full scale and within MAX_SIDE."""
    orientation = image.getexif().get(ORIENTATION, 1)
    full_scale = getattr(image, "decoderconfig", ())[:1] in ((), (1,))
    return (
        image.mode == "RGB"
        and not image.info.get("icc_profile")
        and orientation == 1
        and full_scale
        and max(image.size) <= MAX_SIDE
    )


def _without_metadata(data: bytes, size: tuple[int, int]) -> bytes | None:
    """The JPEG's own compressed data without its metadata (bot/domain/jpeg_segments.py),
    or None when its segments are not plain enough to trust that (cleaning re-encodes it)."""
    try:
        stripped = jpeg_segments.without_metadata(data)
        with Image.open(io.BytesIO(stripped), formats=["JPEG"]) as again:
            same = again.size == size and again.mode == "RGB"
    except (jpeg_segments.NotPlainJpeg, OSError, SyntaxError, ValueError):
        return None
    return stripped if same else None


def _kind_of(data: bytes, label: str) -> str:
    if not data:
        raise ImageRejected(mark("{label} is an empty file."), label=label)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageRejected(TOO_BIG, label=label, size=f"{len(data) / 2**20:.1f}")
    kind = sniff(data)
    if kind is None:
        raise ImageRejected(mark("{label} is not a PNG, JPEG, WEBP or GIF image."), label=label)
    return kind


def _open_checked(data: bytes, kind: str, label: str) -> Image.Image:
    """Open (the header only), refusing a decompression bomb before any pixel is decoded; a
    JPEG is set to decode at the smallest scale that still leaves MAX_SIDE."""
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
    if kind == "jpeg":
        # Let the decoder scale down by 2, 4 or 8 while it still leaves the long side at
        # MAX_SIDE or more: a 12 MP phone photo then takes a quarter of the memory.
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))
    return image


def _decoded(image: Image.Image, label: str) -> Image.Image:
    try:
        image.seek(0)  # an animation is posed from its first frame
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageRejected(
            mark("{label} could not be read: the file is damaged or cut off."), label=label
        ) from error
    return image


def _normalise(image: Image.Image) -> Image.Image:
    """Upright, sRGB, 8-bit RGB; transparency flattened onto white. Metadata does not survive.
    Each step lets go of the pixels it replaces, so that no more than two full-size copies are
    ever held (see DECODED_COPIES)."""
    icc = image.info.get("icc_profile")
    ImageOps.exif_transpose(image, in_place=True)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale to 8 bits instead of clipping everything to white.
        image = _replaced(image, image.convert("I"))
        image = _replaced(image, image.point(lambda value: value * (1 / 256)))
        image = _replaced(image, image.convert("L"))
    if image.mode in ("P", "LA", "PA"):
        image = _replaced(image, image.convert("RGBA"))
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image)  # an RGBA mask is its alpha
        image = _replaced(image, background)
    if icc and image.mode in ("RGB", "CMYK"):
        image = _replaced(image, _to_srgb(image, icc))
    if image.mode != "RGB":
        image = _replaced(image, image.convert("RGB"))
    # Pillow carries `info` (EXIF, ICC, comments) into what it saves: start from nothing.
    image.info = {}
    return image


def _replaced(old: Image.Image, new: Image.Image) -> Image.Image:
    """`new`, once `old`'s pixels are given back (whoever else still refers to `old`)."""
    if new is not old:
        old.close()
    return new


def _to_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    """Colour-convert with the embedded profile, so a wide-gamut photo keeps its colours."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if image.mode == "RGB":  # in place: no second copy
            ImageCms.profileToProfile(image, source, _SRGB, inPlace=True)
            return image
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


def generated_cost(data: bytes) -> DecodingCost:
    """The memory `read_generated` will take for `data`, from the header alone; NotAnImage if
    the header cannot be read."""
    kind = sniff(data)
    if kind not in _MIME:
        raise NotAnImage("the response body is not a PNG, JPEG or WEBP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[kind]]) as image:
                width, height = image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise NotAnImage(f"the {kind} image in the response is damaged: {error}") from None
    return _cost(kind, width, height, len(data), converted_copies=0)


def reworking_cost(image: CheckedImage) -> int:
    """The memory that decoding an image already checked and making a copy of it takes (a
    thumbnail, a smaller upload), from its known size."""
    return _cost(image.format, image.width, image.height, len(image.data), converted_copies=1).bytes


def _cost(kind: str, width: int, height: int, size: int, *, converted_copies: int) -> DecodingCost:
    copies = DECODED_COPIES.get(kind, 1) + converted_copies
    frame = width * height * DECODED_BYTES_PER_PIXEL
    return DecodingCost(width, height, copies * frame + size + DECODING_OVERHEAD_BYTES)


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
