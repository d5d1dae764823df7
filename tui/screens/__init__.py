"""Screens the chat app pushes over the chat: the approval dialog."""
