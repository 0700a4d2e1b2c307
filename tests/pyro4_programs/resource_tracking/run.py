"""Resource tracking (Pyro4 "resourcetracking"): a method registers a resource with
current_context.track_resource(); when the client goes away without freeing it, the daemon
closes it; untrack_resource() takes one off the list."""

import signal
import threading

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

closed = []
closed_changed = threading.Condition()
keep = {}  # the daemon tracks resources weakly: the service keeps them alive


class Resource(object):
    def __init__(self, name):
        self.name = name

    def close(self):
        with closed_changed:
            closed.append(self.name)
            closed_changed.notify_all()


@Pyro4.expose
class ResourceService(object):
    def allocate(self, name):
        resource = Resource(name)
        keep[name] = resource
        Pyro4.current_context.track_resource(resource)

    def free(self, name):
        resource = keep.pop(name)
        Pyro4.current_context.untrack_resource(resource)
        resource.close()

    def tracked(self):
        return sorted(r.name for r in Pyro4.current_context.client.tracked_resources)

    def forget(self, name):
        Pyro4.current_context.untrack_resource(keep[name])


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(ResourceService(), "example.resources")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    with Pyro4.Proxy(uri) as service:
        service.allocate("file-1")
        service.allocate("file-2")
        service.allocate("socket-3")
        assert service.tracked() == ["file-1", "file-2", "socket-3"]
        service.free("file-2")
        service.forget("socket-3")  # untracked: stays open when the client leaves
        assert service.tracked() == ["file-1"]
    # leaving the with-block released the connection: the daemon closes what is still tracked
    with closed_changed:
        if not closed_changed.wait_for(lambda: "file-1" in closed, timeout=20):
            raise SystemExit("the tracked resource was not closed: %r" % closed)
    assert closed == ["file-2", "file-1"], closed
finally:
    daemon.shutdown()
print("OK")
