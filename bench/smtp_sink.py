"""An SMTP server that records who sent what: ``python -m bench.smtp_sink --host H --port P --out FILE``.

The two-host run (``bench/two_hosts.py``) starts it inside its "db" network namespace. Every
message accepted is one JSON line in FILE, written and flushed before the ``250`` answer:
the client's address (which tells the sending host apart), the Message-ID and the recipients.
Runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from email.parser import BytesHeaderParser
from typing import IO, Any


class Recorder:
    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.parser = BytesHeaderParser()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = self.parser.parsebytes(envelope.content or b"")
        line = json.dumps(
            {
                "peer": session.peer[0] if session.peer else None,
                "message_id": headers.get("Message-ID"),
                "rcpt": list(envelope.rcpt_tos),
            }
        )
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    from aiosmtpd.controller import Controller

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with open(args.out, "a", encoding="utf-8") as out:
        controller = Controller(Recorder(out), hostname=args.host, port=args.port)
        controller.start()
        print(f"smtp sink listening on {args.host}:{args.port}", flush=True)
        try:
            stop.wait()
        finally:
            controller.stop()


if __name__ == "__main__":
    main()
