"""Resource tracking: what a client opened on the server is closed when the client goes.

A served method that allocates something for its caller (a file, a lock, a database cursor)
registers it with ``zpyro.current_context.track_resource(resource)``; the daemon calls
``resource.close()`` when that client's connection goes away — released, closed, or its process
gone — unless the method untracked it first (``untrack_resource``). Resources are held weakly,
as in Pyro: the service keeps them alive itself. ``current_context.client.tracked_resources``
lists what the calling client holds.
"""

import threading

import zpyro

closed = threading.Condition()
closed_names = []


class Resource:
    def __init__(self, name):
        self.name = name

    def close(self):
        print(f"daemon: closed {self.name}")
        with closed:
            closed_names.append(self.name)
            closed.notify_all()


@zpyro.expose
class Files:
    def __init__(self):
        self.open_files = {}

    def open(self, name):
        resource = self.open_files[name] = Resource(name)
        zpyro.current_context.track_resource(resource)

    def close(self, name):
        resource = self.open_files.pop(name)
        zpyro.current_context.untrack_resource(resource)
        resource.close()

    def mine(self):
        return sorted(r.name for r in zpyro.current_context.client.tracked_resources)


def main():
    daemon = zpyro.Daemon(host="127.0.0.1")
    uri = daemon.register(Files(), "example.files")
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    try:
        with zpyro.Proxy(uri) as files:
            files.open("report.txt")
            files.open("data.csv")
            files.open("notes.md")
            files.close("data.csv")
            print("client: holding", files.mine())
            print("client: leaving without closing the others")
        with closed:  # the daemon closes what the client left open
            closed.wait_for(lambda: len(closed_names) == 3, 10)
        print("all closed:", sorted(closed_names))
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()


if __name__ == "__main__":
    main()
