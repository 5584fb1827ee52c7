"""A small HTTP/2 client with prior knowledge (h2c) for the failover lab, on python3-h2: one
connection reused for request after request, one stream each. When the server sends GOAWAY, the
streams it did not take (ids above its last stream id) are sent again on a new connection, as
RFC 9113 §6.8 allows; the connection is not used for new streams after it."""
import socket

import h2.config
import h2.connection
import h2.events


# h2 closes its connection state machine on a received GOAWAY and then refuses every later frame,
# but RFC 9113 §6.8 says the streams up to the GOAWAY's last stream id still complete: let the
# frames that finish them (and the acknowledgements the client must send) through.
_Inputs = h2.connection.ConnectionInputs
_CLOSED = h2.connection.ConnectionState.CLOSED
for _input in (_Inputs.RECV_HEADERS, _Inputs.RECV_DATA, _Inputs.RECV_WINDOW_UPDATE,
               _Inputs.RECV_PING, _Inputs.RECV_SETTINGS, _Inputs.RECV_RST_STREAM,
               _Inputs.SEND_WINDOW_UPDATE, _Inputs.SEND_PING, _Inputs.SEND_SETTINGS,
               _Inputs.SEND_RST_STREAM):
    h2.connection.H2ConnectionStateMachine._transitions.setdefault((_CLOSED, _input),
                                                                  (None, _CLOSED))


class StreamRefused(Exception):
    """The server's GOAWAY did not cover this stream: it was not processed."""


class H2Client:
    def __init__(self, host, port, timeout, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.authority = f"{host}:{port}"
        self.going_away = False

    def close(self):
        try:
            self.conn.close_connection()
            self.sock.sendall(self.conn.data_to_send())
        except OSError:
            pass
        self.sock.close()

    def get(self, path, headers):
        """One GET; returns (status, response headers as a dict, body). Raises OSError on a broken
        connection, StreamRefused when a GOAWAY left the stream unprocessed."""
        stream = self.conn.get_next_available_stream_id()
        request = [(":method", "GET"), (":scheme", "http"), (":authority", self.authority),
                   (":path", path)] + [(k.lower(), v) for k, v in headers.items()]
        self.conn.send_headers(stream, request, end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        status, fields, body = None, {}, bytearray()
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionResetError("connection closed by the server")
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    for name, value in event.headers:
                        name, value = name.decode(), value.decode()
                        if name == ":status":
                            status = int(value)
                        else:
                            fields[name] = value
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                    body += event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                    self.sock.sendall(self.conn.data_to_send())
                    return status, fields, bytes(body)
                elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                    raise ConnectionResetError(f"stream reset, error code {event.error_code}")
                elif isinstance(event, h2.events.ConnectionTerminated):
                    self.going_away = True
                    if event.last_stream_id is not None and stream > event.last_stream_id:
                        raise StreamRefused(f"GOAWAY, last stream {event.last_stream_id}")
            out = self.conn.data_to_send()
            if out:
                self.sock.sendall(out)
