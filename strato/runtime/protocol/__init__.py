"""Wire schemas shared by every process (no process of its own; STYLE 5: all schemas in one place).

    gcs.proto, raylet.proto   the gRPC control plane; *_pb2.py and *_pb2_grpc.py are generated
                              from them by generate.py, never edited (a unit test checks they are fresh)
    messages.py               the framed hot path's messages (runtime/transport.py), typed
    handshake.py              the hello every framed connection starts with (pure state machines)
"""
