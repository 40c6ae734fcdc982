"""A loopback TCP proxy in front of a gRPC server that hides the outcome of one call: on its first
connection it forwards everything until the client half-closes HTTP/2 stream `cut_stream`, then holds what
the server sends and, once the server ends that stream (a HEADERS frame with END_STREAM: its trailers),
closes both sides. The server has finished the call; the client sees a dropped connection. Later
connections are forwarded untouched. Only frame headers are parsed (RFC 9113 section 4.1)."""
import socket
import threading

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
END_STREAM = 0x1
DATA, HEADERS = 0x0, 0x1


class CutProxy:
    def __init__(self, target_port, cut_stream):
        self.target_port = target_port
        self.cut_stream = cut_stream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.listener.close()

    def _accept(self):
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            if self.connections == 1:
                half_closed = threading.Event()
                threading.Thread(target=self._client_to_server, args=(downstream, upstream, half_closed),
                                 daemon=True).start()
                threading.Thread(target=self._server_to_client, args=(upstream, downstream, half_closed),
                                 daemon=True).start()
            else:
                threading.Thread(target=_pump, args=(downstream, upstream), daemon=True).start()
                threading.Thread(target=_pump, args=(upstream, downstream), daemon=True).start()

    def _client_to_server(self, client, server, half_closed):
        reader = _FrameReader(client, preface=True)
        try:
            server.sendall(reader.preface)
            for header, frame in reader:
                kind, flags, stream = header
                if stream == self.cut_stream and kind in (DATA, HEADERS) and flags & END_STREAM:
                    half_closed.set()
                server.sendall(frame)
        except OSError:
            pass

    def _server_to_client(self, server, client, half_closed):
        try:
            for (kind, flags, stream), frame in _FrameReader(server, preface=False):
                if not half_closed.is_set():
                    client.sendall(frame)
                elif stream == self.cut_stream and kind == HEADERS and flags & END_STREAM:
                    self.cut.set()
                    break
        except OSError:
            pass
        for s in (client, server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class _FrameReader:
    """Yields ((type, flags, stream id), frame bytes) of an HTTP/2 connection's byte stream."""

    def __init__(self, sock, preface):
        self.sock = sock
        self.buffer = b""
        self.preface = self._take(len(PREFACE)) if preface else b""

    def _take(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk
        taken, self.buffer = self.buffer[:n], self.buffer[n:]
        return taken

    def __iter__(self):
        try:
            while True:
                header = self._take(9)
                length = int.from_bytes(header[:3], "big")
                stream = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
                yield (header[3], header[4], stream), header + self._take(length)
        except (EOFError, OSError):
            return


def _pump(source, sink):
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            sink.sendall(chunk)
    except OSError:
        pass
    for s in (source, sink):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
