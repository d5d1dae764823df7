"""The chat app's message catalogues, one module per language (see :mod:`kanjian.tui.i18n`)."""
