"""File transfer (Pyro4 "filetransfer"): bytes up and down (serpent.tobytes turns what serpent
gives back into bytes), a large file in one call, and a download streamed in chunks by a
generator."""

import hashlib
import os
import signal
import threading

import Pyro4
import serpent


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

CHUNK = 64 * 1024


@Pyro4.expose
class FileServer(object):
    def __init__(self):
        self.files = {}

    def upload(self, name, data):
        data = serpent.tobytes(data)  # serpent may deliver bytes as a base64 dict
        self.files[name] = data
        return hashlib.sha256(data).hexdigest()

    def download(self, name):
        return self.files[name]

    def download_chunks(self, name):
        data = self.files[name]
        for start in range(0, len(data), CHUNK):
            yield data[start : start + CHUNK]


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(FileServer(), "example.files")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    small = os.urandom(1000)
    big = os.urandom(5 * 1024 * 1024)
    with Pyro4.Proxy(uri) as files:
        assert files.upload("small.bin", small) == hashlib.sha256(small).hexdigest()
        assert serpent.tobytes(files.download("small.bin")) == small
        assert files.upload("big.bin", big) == hashlib.sha256(big).hexdigest()
        assert serpent.tobytes(files.download("big.bin")) == big
        received = b"".join(serpent.tobytes(chunk) for chunk in files.download_chunks("big.bin"))
        assert received == big
finally:
    daemon.shutdown()
print("OK")
