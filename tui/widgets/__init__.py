"""The chat app's widgets: transcript pieces, the prompt, the sidebar, the status bar."""
