"""Custom classes (Pyro4 "ser_custom"): Pyro4.util.SerializerBase.register_class_to_dict and
register_dict_to_class turn your objects into dicts and back, with serpent and json."""

import signal
import threading

import Pyro4
import Pyro4.util


def give_up(signum, frame):
    raise SystemExit("timed out")


signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)


class Point(object):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


def point_to_dict(point):
    return {"__class__": "example.Point", "x": point.x, "y": point.y}


def dict_to_point(classname, d):
    return Point(d["x"], d["y"])


Pyro4.util.SerializerBase.register_class_to_dict(Point, point_to_dict)
Pyro4.util.SerializerBase.register_dict_to_class("example.Point", dict_to_point)


@Pyro4.expose
class Geometry(object):
    def move(self, point, dx, dy):
        assert isinstance(point, Point), type(point)
        return Point(point.x + dx, point.y + dy)


daemon = Pyro4.Daemon(host="127.0.0.1")
uri = daemon.register(Geometry(), "example.geometry")
threading.Thread(target=daemon.requestLoop, daemon=True).start()
try:
    for serializer in ("serpent", "json"):
        with Pyro4.Proxy(uri) as geometry:
            geometry._pyroSerializer = serializer
            moved = geometry.move(Point(1, 2), 10, 20)
            assert moved == Point(11, 22), (serializer, vars(moved))
finally:
    daemon.shutdown()
print("OK")
