"""vlm.images: every supported format loads as upright RGB; every bad file fails clearly."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from kanjian.vlm.errors import ImageError, InputError
from kanjian.vlm.images import LoadedImage, aload_image, load_image

from .conftest import encode, photo, png_with_size, screenshot

Write = Callable[[str, bytes], Path]


@pytest.mark.parametrize(
    ("fmt", "suffix", "params"),
    [
        ("PNG", "png", {}),
        ("JPEG", "jpg", {"quality": 90}),
        ("WEBP", "webp", {"quality": 80}),
        ("GIF", "gif", {}),
        ("BMP", "bmp", {}),
        ("TIFF", "tiff", {}),
    ],
)
def test_each_format_loads_as_rgb(
    write: Write, fmt: str, suffix: str, params: dict[str, object]
) -> None:
    data = encode(photo(64, 48), fmt, **params)
    path = write(f"pic.{suffix}", data)

    loaded = load_image(path)

    assert loaded.format == fmt
    assert loaded.image.mode == "RGB"
    assert (loaded.width, loaded.height) == loaded.image.size == (64, 48)
    assert loaded.origin == str(path)
    assert loaded.data == data
    assert loaded.sha256 == hashlib.sha256(data).hexdigest()


def test_png_pixels_survive_exactly(write: Write) -> None:
    image = screenshot(40, 30)
    loaded = load_image(write("shot.png", encode(image, "PNG")))
    assert list(loaded.image.getdata()) == list(image.getdata())
    assert loaded.pristine


def test_bytes_and_streams_have_their_own_origins() -> None:
    data = encode(photo(16, 16), "PNG")
    assert load_image(data).origin == "<bytes>"
    assert load_image(data, name="clip.png").origin == "clip.png"
    assert load_image(io.BytesIO(data)).origin == "<stream>"


def test_stdin_dash_reads_standard_input(write: Write) -> None:
    path = write("in.png", encode(photo(30, 20), "PNG"))
    script = (
        "from kanjian.vlm.images import load_image; i = load_image('-'); "
        "print(i.origin, i.width, i.height, i.format)"
    )
    with path.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-c", script], stdin=stdin, capture_output=True, text=True, check=True
        )
    assert done.stdout.split() == ["<stdin>", "30", "20", "PNG"]


async def test_aload_image_runs_off_the_loop() -> None:
    loaded = await aload_image(encode(photo(20, 10), "JPEG"))
    assert isinstance(loaded, LoadedImage)
    assert loaded.image.size == (20, 10)


@pytest.mark.parametrize(("orientation", "size"), [(1, (60, 40)), (3, (60, 40)), (6, (40, 60))])
def test_exif_orientation_is_applied(orientation: int, size: tuple[int, int]) -> None:
    # A red left half: after a 180° turn the red is on the right; after 6 (90° cw) on top.
    image = Image.new("RGB", (60, 40), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 30, 40))
    exif = Image.Exif()
    exif[0x0112] = orientation
    loaded = load_image(encode(image, "JPEG", quality=95, exif=exif.tobytes()))

    assert loaded.image.size == size
    red_at = {1: (5, 20), 3: (55, 20), 6: (20, 5)}[orientation]
    r, _, b = loaded.image.getpixel(red_at)  # type: ignore[misc]
    assert r > 200 and b < 60
    assert loaded.pristine == (orientation == 1)


def test_alpha_is_flattened_on_white() -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (0, 0, 5, 10))
    loaded = load_image(encode(image, "PNG"))
    assert loaded.image.getpixel((8, 5)) == (255, 255, 255)
    assert loaded.image.getpixel((2, 5)) == (255, 0, 0)
    assert not loaded.pristine


def test_palette_transparency_is_flattened_on_white() -> None:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    image.paste(1, (0, 0, 5, 10))
    loaded = load_image(encode(image, "GIF", transparency=0))
    assert loaded.image.getpixel((8, 5)) == (255, 255, 255)
    assert loaded.image.getpixel((2, 5)) == (0, 200, 0)


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    loaded = load_image(out.getvalue())
    assert loaded.image.getpixel((4, 4)) == (255, 0, 0)
    assert not loaded.pristine


def test_sixteen_bit_grey_keeps_its_tones() -> None:
    # Pillow's plain convert("RGB") would clip every value above 255 to white.
    image = Image.new("I;16", (4, 1))
    for x, value in enumerate((0, 16384, 32768, 65535)):
        image.putpixel((x, 0), value)
    loaded = load_image(encode(image, "PNG"))
    greys = [loaded.image.getpixel((x, 0))[0] for x in range(4)]  # type: ignore[index]
    assert greys == [0, 64, 128, 255]


# ---- refusals: one sentence that names the file ----


def _message(source: object, **kwargs: object) -> str:
    with pytest.raises(ImageError) as caught:
        load_image(source, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert isinstance(caught.value, InputError) and caught.value.exit_code == 2
    assert message.count(". ") <= 1 and message.endswith(".")
    return message


def test_missing_file(tmp_path: Path) -> None:
    message = _message(tmp_path / "nope.png")
    assert repr(str(tmp_path / "nope.png")) in message and "no such file" in message


def test_directory(tmp_path: Path) -> None:
    assert "is a directory" in _message(tmp_path)


def test_empty_file(write: Write) -> None:
    message = _message(write("empty.png", b""))
    assert "'" in message and "empty" in message


def test_not_an_image(write: Write) -> None:
    message = _message(write("notes.png", b"these are not pixels\n" * 20))
    assert "notes.png" in message and "not a PNG, JPEG, WebP, GIF, BMP or TIFF image" in message


def test_unsupported_format_is_refused(write: Write) -> None:
    data = encode(photo(16, 16), "ICO")
    assert "not a PNG" in _message(write("icon.ico", data))


def test_truncated_file(write: Write) -> None:
    data = encode(photo(200, 150), "PNG")
    message = _message(write("scan.png", data[: len(data) // 2]))
    assert message == (
        f"Cannot read image {str(write('x', b'x').parent / 'scan.png')!r}: "
        "the file is truncated. Re-export or re-download it."
    )


def test_truncated_jpeg(write: Write) -> None:
    data = encode(photo(200, 150), "JPEG")
    assert "truncated" in _message(write("cut.jpg", data[: len(data) // 2]))


def test_corrupt_file(write: Write) -> None:
    data = bytearray(encode(photo(64, 64), "PNG"))
    data[60:80] = b"\xff" * 20  # inside the first IDAT: a checksum and zlib failure
    message = _message(write("bad.png", bytes(data)))
    assert "bad.png" in message and ("corrupt" in message or "truncated" in message)


def test_pixel_limit(write: Write) -> None:
    message = _message(write("big.png", encode(photo(100, 100), "PNG")), max_pixels=5_000)
    assert "100x100 = 10,000 pixels" in message and "limit of 5,000" in message


def test_decompression_bomb_is_refused_before_decoding(write: Write) -> None:
    # 30000x30000 is past Pillow's own hard limit too (twice ~89 Mpx): both paths must hold.
    for side in (9000, 30000):
        message = _message(write(f"bomb{side}.png", png_with_size(side, side)))
        assert f"bomb{side}.png" in message and "limit" in message


def test_decompression_bomb_allowed_when_raised_still_guarded(write: Write) -> None:
    # Raising max_pixels past Pillow's hard limit still ends in a clean ImageError.
    message = _message(write("b.png", png_with_size(30000, 30000)), max_pixels=10**10)
    assert "900,000,000 pixels" in message and "decompression-bomb limit" in message
