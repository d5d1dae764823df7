"""The recogniser: RapidOCR (PP-OCR onnx models) over an image; (quad, text, score) per line.

One engine per process, built on first use from the models that ship inside the ``rapidocr``
wheel: their paths are passed explicitly, so RapidOCR never reaches for its download code and
a missing model is a clear error, not a network call. Anything the engine raises becomes
:class:`~kanjian.tools.errors.ToolFailed`.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanjian.tools.errors import ToolFailed

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["Quad", "recognise"]

Quad = list[tuple[float, float]]

# The models the rapidocr 3.x wheel ships (config.yaml defaults: PP-OCRv6 small det/rec, the
# v2.0 mobile direction classifier).
_MODEL_FILES = {
    "Det.model_path": "PP-OCRv6_det_small.onnx",
    "Rec.model_path": "PP-OCRv6_rec_small.onnx",
    "Cls.model_path": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
# RapidOCR's longest side after its own resize, and the shortest side it accepts then
# (with margin over its 32 px minimum).
_MAX_SIDE = 2000
_MIN_SCALED_SIDE = 48


_engine: Any = None
_engine_lock = threading.Lock()
# RapidOCR keeps per-call settings on the engine object, so concurrent calls are serialised.
_run_lock = threading.Lock()


def _get_engine() -> Any:
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = _build_engine()
    return _engine


def _build_engine() -> Any:
    try:
        import rapidocr
        from rapidocr import RapidOCR
    except ImportError as exc:
        raise ToolFailed(
            f"OCR needs the 'rapidocr' package, which failed to import ({exc}); "
            "install it with `pip install 'rapidocr>=3,<4' onnxruntime`."
        ) from exc
    model_dir = Path(rapidocr.__file__).parent / "models"
    params: dict[str, Any] = {
        "Global.log_level": "error",
        # RapidOCR's default scales the detector input so its SHORT side is 736 px: a 640x84
        # line becomes 5600x736, which is slow and splits lines into overlapping fragments.
        # Capping the LONG side instead keeps text near its drawn size (on the bench: CER
        # 0.32% -> 0%, 2.4x faster). Bigger images are already shrunk to 2000 px by RapidOCR.
        "Det.limit_type": "max",
        "Det.limit_side_len": _MAX_SIDE,
        # Its letterbox for wide images (pad a 1900x40 strip to 1900x474) makes the detector
        # miss text near the strip's ends; thin strips are padded by _pad_thin instead.
        "Global.use_vertical_padding": False,
    }
    for key, name in _MODEL_FILES.items():
        path = model_dir / name
        if not path.is_file():
            raise ToolFailed(
                f"OCR model {str(path)!r} is missing from the rapidocr wheel; "
                "reinstall it with `pip install --force-reinstall 'rapidocr>=3,<4'`."
            )
        params[key] = str(path)
    try:
        return RapidOCR(params=params)
    except Exception as exc:
        raise ToolFailed(f"The OCR engine failed to start: {exc}.") from exc


def recognise(image: Image) -> list[tuple[Quad, str, float]]:
    """Run the engine; (quad, text, score) per detected line, quads in ``image``'s pixels."""
    import numpy as np

    # RapidOCR takes numpy arrays as BGR; transparent pixels are read as on white paper.
    rgb = _pad_thin(_flatten(image))
    bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
    engine = _get_engine()
    try:
        with _run_lock:
            out = engine(bgr)
    except Exception as exc:
        raise ToolFailed(
            f"The OCR engine failed on a {image.width}x{image.height} image: {exc}."
        ) from exc
    if out.boxes is None or out.txts is None or out.scores is None:
        return []
    return [
        ([(float(x), float(y)) for x, y in quad], str(text), float(score))
        for quad, text, score in zip(out.boxes, out.txts, out.scores, strict=True)
    ]


def _flatten(image: Image) -> Image:
    from PIL import Image as PILImage

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _pad_thin(image: Image) -> Image:
    """Pad very thin strips (bottom/right, in the edge colour) so RapidOCR can scale them.

    RapidOCR shrinks images to 2000 px on the long side; a 3000x20 strip would become 13 px
    high, below its 32 px minimum, and fail. Padding keeps the text at its size and the
    boxes where they are (the padding lies beyond the original image).
    """
    from PIL import Image as PILImage

    width, height = image.size
    if max(width, height) <= _MAX_SIDE:
        return image  # not shrunk; RapidOCR enlarges short sides itself
    needed = math.ceil(_MIN_SCALED_SIDE * max(width, height) / _MAX_SIDE)
    if min(width, height) >= needed:
        return image
    size = (max(width, needed), max(height, needed))
    corner = image.getpixel((width - 1, height - 1))
    padded = PILImage.new("RGB", size, corner)
    padded.paste(image, (0, 0))
    return padded


