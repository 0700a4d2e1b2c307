"""Passing data through without deserializing it (Pyro4 "blob-dispatch"): the client sends a
Pyro4.core.SerializedBlob; the dispatcher in the middle forwards it without ever loading the
data (it needs no custom class); the listener calls blob.deserialized()."""

import signal
import threading

import Pyro4
import Pyro4.core
import Pyro4.util


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


class Reading(object):  # only the client and the listener know this class
    def __init__(self, sensor, value):
        self.sensor, self.value = sensor, value


def reading_to_dict(reading):
    return {"__class__": "example.Reading", "sensor": reading.sensor, "value": reading.value}


def dict_to_reading(classname, d):
    return Reading(d["sensor"], d["value"])


Pyro4.util.SerializerBase.register_class_to_dict(Reading, reading_to_dict)
received = []
arrived = threading.Event()


@Pyro4.expose
class Listener(object):
    def process_blob(self, blob):
        Pyro4.util.SerializerBase.register_dict_to_class("example.Reading", dict_to_reading)
        reading = blob.deserialized()
        received.append((blob.info, reading.sensor, reading.value))
        arrived.set()


@Pyro4.expose
class Dispatcher(object):
    def __init__(self, listener_uri):
        self.listener_uri = listener_uri
        self.topics = []

    def dispatch(self, blob):
        self.topics.append(blob.info)  # the info is plain data; the blob stays serialized
        with Pyro4.Proxy(self.listener_uri) as listener:
            listener.process_blob(blob)


daemon = Pyro4.Daemon(host="127.0.0.1")
listener_uri = daemon.register(Listener(), "example.listener")
dispatcher_uri = daemon.register(Dispatcher(listener_uri), "example.dispatcher")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    with Pyro4.Proxy(dispatcher_uri) as dispatcher:
        dispatcher.dispatch(Pyro4.core.SerializedBlob("temperature", Reading("kitchen", 21.5)))
    assert arrived.wait(20)
    assert received == [("temperature", "kitchen", 21.5)], received
finally:
    daemon.shutdown()
print("OK")
