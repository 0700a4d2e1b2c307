"""File transfer (Pyro4's filetransfer example, zpyro's way): bytes travel as bytes with every
serializer (no base64), and big ones -- from some tens of KiB up -- as separate ZeroMQ frames
beside the message, never copied into the serialized payload. A file too big to hold twice in
memory streams in chunks from a generator, each chunk fetched as the reader gets to it.

Server and client run in this one process; they talk over tcp on 127.0.0.1 as they would
between two machines.
"""

import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

import zpyro

CHUNK = 1024 * 1024


@zpyro.expose
class FileStore:
    def __init__(self, directory):
        self.directory = Path(directory)

    def _path(self, name):
        if "/" in name or name.startswith("."):
            raise ValueError(f"bad file name {name!r}")
        return self.directory / name

    def put(self, name, data):
        self._path(name).write_bytes(data)
        return len(data)

    def get(self, name):
        return self._path(name).read_bytes()

    def sha256(self, name):
        return hashlib.sha256(self._path(name).read_bytes()).hexdigest()

    def read_chunks(self, name, size=CHUNK):
        """A generator: the caller gets an iterator that fetches chunks as it goes."""
        with self._path(name).open("rb") as f:
            while chunk := f.read(size):
                yield chunk

    def listing(self):
        return {p.name: p.stat().st_size for p in sorted(self.directory.iterdir())}


def main():
    with tempfile.TemporaryDirectory() as directory, zpyro.Daemon(host="127.0.0.1") as daemon:
        uri = daemon.register(FileStore(directory), "example.filestore")
        server = threading.Thread(target=daemon.request_loop)
        server.start()
        try:
            with zpyro.Proxy(uri) as store:
                store.put("hello.txt", b"Hello, files!\n")
                print(f"small file back: {store.get('hello.txt')!r}")

                data = os.urandom(20 * CHUNK)  # 20 MiB
                started = time.perf_counter()
                stored = store.put("big.bin", data)
                back = store.get("big.bin")
                took = time.perf_counter() - started
                print(
                    f"20 MiB up and down: {stored == len(back) == len(data)}, "
                    f"same bytes: {back == data}, type {type(back).__name__} ({took:.2f} s)"
                )

                digest = hashlib.sha256()
                chunks = 0
                for chunk in store.read_chunks("big.bin"):  # streamed, chunk by chunk
                    digest.update(chunk)
                    chunks += 1
                same = digest.hexdigest() == store.sha256("big.bin")
                print(f"streamed big.bin in {chunks} chunks of 1 MiB; checksum matches: {same}")

                with zpyro.Proxy(uri) as as_json:
                    as_json._pyroSerializer = "json"  # bytes are bytes with json too
                    print(f"with json: {as_json.get('hello.txt')!r}")
                print(f"the store holds: {store.listing()}")
        finally:
            daemon.shutdown()
            server.join(10)


if __name__ == "__main__":
    main()
