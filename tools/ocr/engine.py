"""The recogniser: PP-OCR detection and recognition models on onnxruntime, run directly.

The models are the ones the ``rapidocr`` wheel ships (PP-OCRv6 small det/rec), found without
importing ``rapidocr`` itself: its import (configuration, logging, download helpers) cost
0.45 s of every ``kanjian ocr`` process, and its per-call settings forced one call at a time.
The pipeline is PaddleOCR's, as RapidOCR runs it: DB detection on the image with its long side
capped at 2000 px, each box cut out upright (a tall box is turned: vertical text), recognised
in batches of similar width, CTC-decoded; lines scoring under 0.5 are dropped. The direction
classifier is not run: upside-down lines are rare and it costs a pass per line.

The two onnxruntime sessions are created once per process, with one intra-op thread per core
(capped at 8: beyond that the small models stop gaining) and no spinning. Sessions are thread-safe, so
concurrent calls run concurrently. Anything the runtime raises becomes
:class:`~kanjian.tools.errors.ToolFailed`.
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kanjian.tools.errors import ToolFailed

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

__all__ = ["Quad", "model_files", "recognise"]

Quad = list[tuple[float, float]]

_DET_MODEL = "PP-OCRv6_det_small.onnx"
_REC_MODEL = "PP-OCRv6_rec_small.onnx"
# The detector's input: long side at most this (bigger images are shrunk), both sides
# multiples of 32, and at least this short after padding (thin strips are padded, not shrunk
# to nothing).
_MAX_SIDE = 2000
_MIN_SCALED_SIDE = 48
# DB post-processing, PaddleOCR's defaults as RapidOCR sets them.
_DB_THRESH = 0.3
_DB_BOX_THRESH = 0.5
_DB_UNCLIP = 1.6
_DB_MIN_SIZE = 3
_MAX_CANDIDATES = 1000
# Recognition: input height, the narrowest batch width (as a ratio), lines per batch.
_REC_HEIGHT = 48
_REC_MIN_RATIO = 320 / 48
_REC_BATCH = 8
_TEXT_SCORE = 0.5

_models: tuple[Any, Any, list[str]] | None = None
_models_lock = threading.Lock()


def recognise(image: Image) -> list[tuple[Quad, str, float]]:
    """(quad, text, score) per detected line, quads in ``image``'s pixels, in no set order."""
    import numpy as np

    det, rec, chars = _get_models()
    rgb = _pad_thin(_flatten(image))
    bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
    try:
        quads = _detect(det, bgr)
        crops = [_crop(bgr, quad) for quad in quads]
        results = _recognise_crops(rec, chars, crops)
    except Exception as exc:
        raise ToolFailed(
            f"The OCR engine failed on a {image.width}x{image.height} image: {exc}."
        ) from exc
    out = []
    for quad, (text, score) in zip(quads, results, strict=True):
        if text and score >= _TEXT_SCORE:
            out.append(([(float(x), float(y)) for x, y in quad], text, score))
    return out


def warm() -> None:
    """Create the sessions now (a caller that knows OCR is coming can overlap this)."""
    _get_models()


# ---------------------------------------------------------------------------- sessions


def _get_models() -> tuple[Any, Any, list[str]]:
    global _models
    if _models is None:
        with _models_lock:
            if _models is None:
                _models = _load_models()
    return _models


def model_files() -> tuple[Path, Path]:
    """The detection and recognition models the engine loads (``kanjian doctor`` names them).

    Raises :class:`~kanjian.tools.errors.ToolFailed` when the rapidocr wheel is not installed.
    """
    folder = _model_dir()
    return folder / _DET_MODEL, folder / _REC_MODEL


def _model_dir() -> Path:
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise ToolFailed(
            "OCR needs the models of the 'rapidocr' package, which is not installed; "
            "install it with `pip install 'rapidocr>=3,<4' onnxruntime`."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _load_models() -> tuple[Any, Any, list[str]]:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ToolFailed(
            f"OCR needs 'onnxruntime', which failed to import ({exc}); "
            "install it with `pip install onnxruntime`."
        ) from exc
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(1, min(8, os.cpu_count() or 1))
    options.log_severity_level = 3
    # Idle workers sleep instead of spinning: on a busy machine (the agent, the model server
    # and the OCR share the cores) spinning made a detection pass 2.2x slower, and on an
    # idle one it gains nothing measurable.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions = []
    for path in model_files():
        if not path.is_file():
            raise ToolFailed(
                f"OCR model {str(path)!r} is missing from the rapidocr wheel; "
                "reinstall it with `pip install --force-reinstall 'rapidocr>=3,<4'`."
            )
        try:
            sessions.append(
                ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            )
        except Exception as exc:
            raise ToolFailed(f"The OCR model {str(path)!r} failed to load: {exc}.") from exc
    det, rec = sessions
    meta = rec.get_modelmeta().custom_metadata_map
    if "character" not in meta:
        raise ToolFailed(f"The OCR model {_REC_MODEL!r} carries no character list.")
    # CTC: index 0 is the blank; the dictionary ends with a space.
    chars = ["", *meta["character"].splitlines(), " "]
    return det, rec, chars


# ---------------------------------------------------------------------------- detection


def _detect(session: Any, bgr: np.ndarray) -> list[np.ndarray]:
    """Text line quads (4x2 float32, clockwise from top-left) in ``bgr``'s pixels."""
    import cv2
    import numpy as np

    height, width = bgr.shape[:2]
    ratio = min(1.0, _MAX_SIDE / max(height, width))
    new_h = max(32, round(height * ratio / 32) * 32)
    new_w = max(32, round(width * ratio / 32) * 32)
    resized = cv2.resize(bgr, (new_w, new_h))
    tensor = (resized.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
    pred = session.run(None, {session.get_inputs()[0].name: tensor})[0][0, 0]
    mask = cv2.dilate((pred > _DB_THRESH).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    quads = []
    for contour in contours[:_MAX_CANDIDATES]:
        points, short = _mini_box(contour)
        if short < _DB_MIN_SIZE or _box_score(pred, points) < _DB_BOX_THRESH:
            continue
        points, short = _mini_box(_unclip(points))
        if short < _DB_MIN_SIZE + 2:
            continue
        points[:, 0] = np.clip(np.round(points[:, 0] / new_w * width), 0, width - 1)
        points[:, 1] = np.clip(np.round(points[:, 1] / new_h * height), 0, height - 1)
        quad = _clockwise(points)
        if np.linalg.norm(quad[0] - quad[1]) > 3 and np.linalg.norm(quad[0] - quad[3]) > 3:
            quads.append(quad)
    return quads


def _mini_box(contour: np.ndarray) -> tuple[np.ndarray, float]:
    import cv2
    import numpy as np

    rect = cv2.minAreaRect(contour.reshape(-1, 1, 2).astype(np.float32))
    return cv2.boxPoints(rect).astype(np.float32), float(min(rect[1]))


def _box_score(pred: np.ndarray, box: np.ndarray) -> float:
    """Mean probability inside ``box`` (DB's "fast" score)."""
    import cv2
    import numpy as np

    h, w = pred.shape
    x1 = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
    x2 = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    y1 = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
    y2 = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((y2 - y1 + 1, x2 - x1 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, [(box - [x1, y1]).astype(np.int32)], 1)
    return float(cv2.mean(pred[y1 : y2 + 1, x1 : x2 + 1], mask)[0])


def _unclip(box: np.ndarray) -> np.ndarray:
    """Grow the shrunk text kernel back: offset by area * ratio / perimeter."""
    import numpy as np
    import pyclipper

    x, y = box[:, 0], box[:, 1]
    area = abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))) / 2
    perimeter = float(np.linalg.norm(box - np.roll(box, 1, axis=0), axis=1).sum())
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(area * _DB_UNCLIP / max(perimeter, 1e-6))
    if not grown:
        return box
    return np.array(grown[0], dtype=np.float32)


def _clockwise(points: np.ndarray) -> np.ndarray:
    """Top-left, top-right, bottom-right, bottom-left."""
    import numpy as np

    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


# ---------------------------------------------------------------------------- recognition


def _crop(bgr: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The line cut out upright; a tall one (vertical text) turned to read left to right."""
    import cv2
    import numpy as np

    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    crop = cv2.warpPerspective(
        bgr, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if height >= 1.5 * width:
        crop = np.rot90(crop)
    return crop


def _recognise_crops(
    session: Any, chars: list[str], crops: list[np.ndarray]
) -> list[tuple[str, float]]:
    import numpy as np

    results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    ratios = [crop.shape[1] / max(crop.shape[0], 1) for crop in crops]
    order = sorted(range(len(crops)), key=lambda i: ratios[i])
    name = session.get_inputs()[0].name
    for start in range(0, len(order), _REC_BATCH):
        batch = order[start : start + _REC_BATCH]
        ratio = max(_REC_MIN_RATIO, *(ratios[i] for i in batch))
        width = math.ceil(_REC_HEIGHT * ratio)
        tensor = np.zeros((len(batch), 3, _REC_HEIGHT, width), dtype=np.float32)
        for slot, i in enumerate(batch):
            tensor[slot] = _rec_input(crops[i], width)
        probs = session.run(None, {name: tensor})[0]
        for slot, i in enumerate(batch):
            results[i] = _ctc_decode(probs[slot], chars)
    return results


def _rec_input(crop: np.ndarray, width: int) -> np.ndarray:
    import cv2
    import numpy as np

    h, w = crop.shape[:2]
    resized_w = min(width, math.ceil(_REC_HEIGHT * w / max(h, 1)))
    resized = cv2.resize(crop, (max(1, resized_w), _REC_HEIGHT)).astype(np.float32)
    out = np.zeros((3, _REC_HEIGHT, width), dtype=np.float32)
    out[:, :, : resized.shape[1]] = resized.transpose(2, 0, 1) / 127.5 - 1.0
    return out


def _ctc_decode(probs: np.ndarray, chars: list[str]) -> tuple[str, float]:
    import numpy as np

    best = probs.argmax(axis=1)
    keep = np.ones(len(best), dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    keep &= best != 0
    if not keep.any():
        return "", 0.0
    text = "".join(chars[i] for i in best[keep] if i < len(chars))
    return text, float(probs.max(axis=1)[keep].mean())


# ---------------------------------------------------------------------------- image prep


def _flatten(image: Image) -> Image:
    """RGB; transparent pixels are read as on white paper."""
    from PIL import Image as PILImage

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _pad_thin(image: Image) -> Image:
    """Pad very thin strips (bottom/right, in the edge colour) so the detector can see them.

    Images are shrunk to 2000 px on the long side; a 3000x20 strip would become 13 px high,
    too thin to detect. Padding keeps the text at its size and the boxes where they are (the
    padding lies beyond the original image).
    """
    from PIL import Image as PILImage

    width, height = image.size
    needed = math.ceil(_MIN_SCALED_SIDE * max(max(width, height) / _MAX_SIDE, 1.0))
    if min(width, height) >= needed:
        return image
    size = (max(width, needed), max(height, needed))
    corner = image.getpixel((width - 1, height - 1))
    padded = PILImage.new("RGB", size, corner)
    padded.paste(image, (0, 0))
    return padded
