"""``python -m vlm.fake_server``: see :mod:`vlm.fake_server.cli`."""

from vlm.fake_server.cli import main

main()
