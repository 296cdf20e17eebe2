"""Sound out of cosydesk: streamed playback (sounddevice) and atomic WAV files (soundfile).

Qt-free. `playback` imports sounddevice only when a player starts, so a machine without
PortAudio can still save speech to WAV files.
"""
