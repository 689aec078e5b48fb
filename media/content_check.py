"""Whether an object's bytes are what its content type says (magic numbers, not names).

A client declares the content type when it asks for an upload, and S3 stores whatever
``Content-Type`` the form sent: neither looks at the bytes. Processing streams the object
once; ``ContentCheck`` watches that stream and says what is wrong, if anything:

* images (``image/jpeg``, ``image/png``, ``image/gif``, ``image/webp``): Pillow must find
  that very format and ``verify()`` the file (the caller keeps a copy of an image for its
  thumbnail anyway, and hands it over);
* ``application/pdf``: the ``%PDF-`` header;
* text (``text/plain``, ``text/csv``): no NUL byte anywhere (the CSV importer's rule for
  binary files).

A content type ``MEDIA_CONTENT_TYPES`` allows but this module has no check for fails
closed, with a reason that says so: adding a type means adding its check here.
"""

from typing import IO

IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP"}
TEXT_TYPES = frozenset({"text/plain", "text/csv"})
PDF_MAGIC = b"%PDF-"
_HEAD_BYTES = 1024


class ContentCheck:
    """Feed it the object's blocks in order, then ask ``problem()``."""

    def __init__(self, content_type: str, *, max_image_pixels: int | None = None):
        self.content_type = content_type
        self.max_image_pixels = max_image_pixels
        self.head = b""
        self.nul_at: int | None = None
        self._seen = 0

    @property
    def needs_copy(self) -> bool:
        """Whether ``problem`` needs the whole file (images: Pillow reads it)."""
        return self.content_type in IMAGE_FORMATS

    def feed(self, block: bytes) -> None:
        if len(self.head) < _HEAD_BYTES:
            self.head += block[: _HEAD_BYTES - len(self.head)]
        if self.nul_at is None and self.content_type in TEXT_TYPES:
            index = block.find(b"\x00")
            if index >= 0:
                self.nul_at = self._seen + index
        self._seen += len(block)

    def problem(self, copy: IO[bytes] | None = None) -> str:
        """Why the bytes are not the declared content type ("" when they are). For images,
        ``copy`` is the whole file, at any position."""
        content_type = self.content_type
        if content_type in IMAGE_FORMATS:
            return _image_problem(copy, IMAGE_FORMATS[content_type], content_type, self.max_image_pixels)
        if content_type == "application/pdf":
            if not self.head.startswith(PDF_MAGIC):
                shown = _shown(self.head)
                return f"Declared {content_type}, but the file does not start with {PDF_MAGIC.decode()}: {shown}."
            return ""
        if content_type in TEXT_TYPES:
            if self.nul_at is not None:
                return f"Declared {content_type}, but byte {self.nul_at:,} is a NUL byte: binary data, not text."
            return ""
        return f"No content check is defined for {content_type!r}: files of this type cannot be accepted."


def _image_problem(copy: IO[bytes] | None, expected: str, content_type: str, max_pixels: int | None) -> str:
    from PIL import Image, UnidentifiedImageError

    if copy is None:
        raise ValueError("an image check needs the file")
    if max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels
    copy.seek(0)
    try:
        with Image.open(copy) as image:
            found = image.format
            if found != expected:
                return f"Declared {content_type}, but the file is a {found} image."
            image.verify()
    except UnidentifiedImageError:
        copy.seek(0)
        return f"Declared {content_type}, but the file is not an image: {_shown(copy.read(16))}."
    except Image.DecompressionBombError as exc:
        return f"Declared {content_type}, but the image is too large to open ({exc})."
    except Exception as exc:  # Pillow raises many kinds for a damaged file
        return f"Declared {content_type}, but the {expected} image is damaged ({type(exc).__name__}: {exc})."
    return ""


def _shown(head: bytes) -> str:
    """The first bytes, as a person reading the reason would want them."""
    return repr(head[:16]) if head else "the file is empty"
