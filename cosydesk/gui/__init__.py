"""The desktop app (PySide6): tray icon, main window, dialogs, and the runner's events as signals.

The entry point is `cosydesk.gui.app.run_gui`. Nothing here imports torch: the engine loads on
the runner's thread (cosydesk.runner) after the tray icon is up.
"""
