"""``python -m vlm.fake_server``: see :mod:`kanjian.vlm.fake_server.cli`."""

from kanjian.vlm.fake_server.cli import main

main()
