"""Ping one X window with _NET_WM_PING until stdin closes; print each answer's delay.

Run as `python -m tests.desktop.pinger DISPLAY WINDOW INTERVAL`. It is a process of its own so
that what it measures is the window's delay alone: inside the test process its thread waited
for the test's own interpreter lock (taken by the accessibility calls) and reported that too.
Each answered ping prints its delay in seconds; an unanswered one at the end prints
`waiting SECONDS`.
"""

from __future__ import annotations

import select
import sys
import time


def main(display_name: str, window_id: int, interval: float) -> None:
    from Xlib import X, display
    from Xlib.protocol import event

    screen = display.Display(display_name)
    root = screen.screen().root
    # Qt answers on the root window; StructureNotify on the root lets this client see it.
    root.change_attributes(event_mask=X.StructureNotifyMask)
    window = screen.create_resource_object("window", window_id)
    protocols = screen.intern_atom("WM_PROTOCOLS")
    ping = screen.intern_atom("_NET_WM_PING")
    stdin = sys.stdin.fileno()
    out = sys.stdout
    serial = 1000
    while True:
        serial += 1
        message = event.ClientMessage(
            window=window, client_type=protocols, data=(32, [ping, serial, window.id, 0, 0])
        )
        sent = time.monotonic()
        window.send_event(message, event_mask=X.NoEventMask)
        screen.flush()
        answered = False
        while not answered:
            while screen.pending_events():
                reply = screen.next_event()
                if reply.type == X.ClientMessage and reply.data[1][1] == serial:
                    answered = True
            if answered:
                break
            ready, _, _ = select.select([screen.fileno(), stdin], [], [], 0.5)
            if stdin in ready:  # the test stopped this pinger while a ping was out
                out.write(f"waiting {time.monotonic() - sent:.6f}\n")
                out.flush()
                return
        out.write(f"{time.monotonic() - sent:.6f}\n")
        out.flush()
        ready, _, _ = select.select([stdin], [], [], interval)
        if ready:
            return


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
