"""The call context (Pyro4 "callcontext"): correlation ids (set by the client, passed along
nested calls, generated when the client has none), message annotations both ways (new style via
current_context, old style via Daemon.annotations / Proxy._pyroResponseAnnotations), and what a
served call can learn about its message (seq, msg_flags, serializer_id)."""

import signal
import threading
import uuid

import Pyro4


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)

seen_response_annotations = []


class StampingDaemon(Pyro4.Daemon):
    def annotations(self):
        return {"DAEM": b"stamped by the daemon"}


class ListeningProxy(Pyro4.Proxy):
    def _pyroResponseAnnotations(self, annotations, msgtype):
        seen_response_annotations.append(dict(annotations))


@Pyro4.expose
class Inner(object):
    def correlation(self):
        return str(Pyro4.current_context.correlation_id)


@Pyro4.expose
class Outer(object):
    def __init__(self, inner_uri):
        self.inner_uri = inner_uri

    def correlations(self):
        with Pyro4.Proxy(self.inner_uri) as inner:
            return str(Pyro4.current_context.correlation_id), inner.correlation()

    def annotation(self, key):
        Pyro4.current_context.response_annotations = {"RESP": b"for " + key.encode()}
        return Pyro4.current_context.annotations.get(key, b"").decode()

    def message_facts(self):
        ctx = Pyro4.current_context
        return ctx.seq, ctx.msg_flags, ctx.serializer_id


daemon = StampingDaemon(host="127.0.0.1")
inner_uri = daemon.register(Inner(), "example.inner")
outer_uri = daemon.register(Outer(inner_uri), "example.outer")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    with ListeningProxy(outer_uri) as outer:
        generated = outer.correlations()
        assert generated[0] == generated[1] and uuid.UUID(generated[0]), generated

        Pyro4.current_context.correlation_id = uuid.uuid4()
        mine = str(Pyro4.current_context.correlation_id)
        assert outer.correlations() == (mine, mine)

        Pyro4.current_context.annotations = {"XTRA": b"extra data"}
        assert outer.annotation("XTRA") == "extra data"
        assert Pyro4.current_context.response_annotations["RESP"] == b"for XTRA"
        assert seen_response_annotations[-1]["DAEM"] == b"stamped by the daemon"
        assert outer.annotation("XTRA") == ""  # annotations set this way go with one call

        seq, flags, serializer_id = outer.message_facts()
        assert seq > 0 and isinstance(flags, int) and serializer_id > 0, (seq, flags, serializer_id)
finally:
    daemon.shutdown()
print("OK")
