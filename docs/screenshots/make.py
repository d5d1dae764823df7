"""Make the README's screenshot: the real app, agent, OCR and memory, a scripted model.

    .venv/bin/python docs/screenshots/make.py

Everything but the model is real: the chat app drives the agent, which runs RapidOCR on a
rendered receipt and streams the answer from a scripted OpenAI-compatible server on
127.0.0.1. The app exports the SVG itself (``App.export_screenshot``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "screenshots" / "session.svg"
FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
ANSWER = (
    "The receipt from **Lotus Café 莲花咖啡** comes to **¥73.50**:\n\n"
    "| item | price |\n|---|---|\n| 拿铁 Latte ×2 | ¥56.00 |\n| 可颂 Croissant | ¥17.50 |\n\n"
    "The total line reads `合计 TOTAL ¥73.50`."
)


def receipt(path: Path) -> Path:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (560, 420), "white")
    draw = ImageDraw.Draw(image)
    lines = ["莲花咖啡 Lotus Café", "拿铁 Latte x2      ¥56.00", "可颂 Croissant    ¥17.50",
             "合计 TOTAL         ¥73.50"]  # fmt: skip
    for n, text in enumerate(lines):
        draw.text((30, 40 + n * 90), text, fill="black", font=ImageFont.truetype(FONT, 34))
    image.save(path)
    return path


async def main() -> None:
    from kanjian.agent.config import load_settings
    from kanjian.tui.app import KanjianApp
    from kanjian.tui.chat_controller import ChatServices
    from kanjian.tui.widgets.prompt import PromptInput
    from kanjian.vlm.fake_server import ScriptedServer

    home = Path(tempfile.mkdtemp(prefix="kanjian-shot-"))
    os.environ["KANJIAN_HOME"] = str(home)
    image = receipt(home / "receipt.png")
    step = {"thought": "Read the receipt first.", "tool": "ocr", "args": {"image": "image_1"}}
    with ScriptedServer(model="OpenGVLab/InternVL-Chat-V1-5") as srv:
        srv.enqueue(json.dumps(step), json.dumps({"thought": "Done.", "answer": ANSWER}))
        settings = load_settings({"vlm.url": srv.url, "memory.embedder": "hash"})
        app = KanjianApp(ChatServices(settings), attachments=[image], image_mode="halfcell")
        async with app.run_test(size=(110, 44)) as pilot:
            await app.ready.wait()
            app.query_one(PromptInput).cursor_blink = False
            app.query_one(PromptInput).insert("What does this receipt come to?")
            await pilot.press("enter")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause(0.5)
            OUT.write_text(app.export_screenshot(title="kanjian chat"), encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
