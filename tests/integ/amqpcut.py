"""A TCP proxy in front of the private RabbitMQ node that cuts one AMQP
connection at the worst moment for a worker: right after the worker has
published its final notification. It reads the client's bytes frame by
frame (AMQP 0-9-1: type, channel, size, payload, 0xCE) to know where it is.

    cut = AmqpCut(ENV.amqp_port, "confirm")   # or "ack", "lost"
    start_worker(amqp=cut.url)
    ...
    assert cut.fired.is_set()

Modes (each fires once; later connections pass through untouched):
    confirm  the `done` body reaches the broker (which stores it) but its
             publisher confirm never reaches the worker: after HOLD seconds
             the proxy closes both sides. The worker cannot know that the
             notification is stored.
    ack      the confirm goes through, the worker's basic.ack of the task
             is dropped and both sides are closed: the broker requeues a
             task whose `done` it has stored.
    lost     the `done` body never reaches the broker: both sides are
             closed as it comes. The broker requeues a task of which it
             stored nothing but `started`, while the worker holds a
             finished file.
"""

import socket
import struct
import threading
import time

HOLD = 0.3          # seconds the broker gets to store the notification
DONE = b'"status":"done"'
BASIC_ACK = (60, 80)


class AmqpCut:
    def __init__(self, broker_port, mode, host="127.0.0.1"):
        assert mode in ("confirm", "ack", "lost")
        self.broker = (host, broker_port)
        self.mode = mode
        self.fired = threading.Event()
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.url = "amqp://guest:guest@127.0.0.1:%d" % self.port
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        try:
            self.lsock.close()
        except OSError:
            pass

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(self.broker, timeout=5)
                b.settimeout(None)
            except OSError:
                c.close()
                continue
            _Link(self, c, b)


class _Link:
    """One proxied connection: the client->broker pump parses frames, the
    broker->client pump copies bytes unless told to stop."""

    def __init__(self, cut, client, broker):
        self.cut = cut
        self.client = client
        self.broker = broker
        self.mute_down = False   # stop passing broker -> client bytes
        self.seen_done = False
        threading.Thread(target=self._up, daemon=True).start()
        threading.Thread(target=self._down, daemon=True).start()

    def _shut(self):
        for s in (self.client, self.broker):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _down(self):
        try:
            while True:
                data = self.broker.recv(65536)
                if not data:
                    break
                if self.mute_down:
                    continue
                self.client.sendall(data)
        except OSError:
            pass

    def _up(self):
        buf = b""
        header_done = False
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                buf += data
                if not header_done:
                    if len(buf) < 8:
                        continue
                    self.broker.sendall(buf[:8])   # "AMQP\0\0\x09\x01"
                    buf = buf[8:]
                    header_done = True
                while len(buf) >= 7:
                    ftype, _, size = struct.unpack(">BHI", buf[:7])
                    if len(buf) < 8 + size:
                        break
                    frame, buf = buf[:8 + size], buf[8 + size:]
                    if self._frame(ftype, frame[7:7 + size], frame):
                        return
        except OSError:
            pass
        finally:
            self._shut()

    def _frame(self, ftype, payload, frame):
        """Passes one client frame on (or not); True once the cut is made."""
        armed = not self.cut.fired.is_set()
        if armed and self.cut.mode == "ack" and self.seen_done and ftype == 1 \
                and struct.unpack(">HH", payload[:4]) == BASIC_ACK:
            self.cut.fired.set()        # the ack never reaches the broker
            self._shut()
            return True
        if armed and ftype == 3 and DONE in payload:
            self.seen_done = True
            if self.cut.mode == "lost":
                self.cut.fired.set()    # its body never reaches the broker
                self._shut()
                return True
            if self.cut.mode == "confirm":
                self.mute_down = True   # before the broker can answer
                self.broker.sendall(frame)
                self.cut.fired.set()
                time.sleep(HOLD)
                self._shut()
                return True
        self.broker.sendall(frame)
        return False
