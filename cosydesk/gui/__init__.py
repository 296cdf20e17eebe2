"""The desktop app (PySide6): tray icon, main window, dialogs and the worker thread.

The entry point is `cosydesk.gui.app.run_gui`. Nothing here imports torch: the engine loads on
the worker's thread after the tray icon is up.
"""
