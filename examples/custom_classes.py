"""Custom classes and time zones: what travels, and how to make your own classes travel.

Pyro4's "ser_custom" and "timezones" examples, with zpyro. The safe serializers (serpent, json,
msgpack) carry plain data. Without help:

* a ``datetime`` arrives as its ISO text (with its UTC offset, so no time zone is lost);
* an object of your own class arrives as a dict with a ``__class__`` key (zpyro never builds a
  class a peer names: that would let the peer choose what code runs).

``SerializerBase.register_class_to_dict(cls, to_dict)`` and ``register_dict_to_class(name,
from_dict)`` (also ``zpyro.register_class_to_dict``) teach both ends your class: it then
arrives as itself, with every serializer. The same works for ``datetime``.
"""

import datetime
import threading

import zpyro
from zpyro.util import SerializerBase

AMSTERDAM = datetime.timezone(datetime.timedelta(hours=1), "CET")


class Meeting:
    def __init__(self, subject, starts):
        self.subject = subject
        self.starts = starts

    def __repr__(self):
        return f"Meeting({self.subject!r}, {self.starts.isoformat()})"


@zpyro.expose
class Calendar:
    def next_meeting(self):
        return Meeting("planning", datetime.datetime(2026, 3, 2, 9, 30, tzinfo=AMSTERDAM))

    def postpone(self, meeting, hours):
        # with the class registered, the server gets a real Meeting (and a real datetime)
        assert isinstance(meeting, Meeting), type(meeting)
        meeting.starts += datetime.timedelta(hours=hours)
        return meeting

    def now_in_utc(self):
        return datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.timezone.utc)


def meeting_to_dict(meeting):
    return {"__class__": "example.Meeting", "subject": meeting.subject, "starts": meeting.starts}


def dict_to_meeting(classname, data):
    return Meeting(data["subject"], data["starts"])


def datetime_to_dict(moment):
    return {"__class__": "datetime", "iso": moment.isoformat()}


def dict_to_datetime(classname, data):
    return datetime.datetime.fromisoformat(data["iso"])


def main():
    daemon = zpyro.Daemon(host="127.0.0.1")
    uri = daemon.register(Calendar(), "example.calendar")
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    try:
        with zpyro.Proxy(uri) as calendar:
            # nothing registered: plain data arrives
            print("a datetime, unregistered:", repr(calendar.now_in_utc()))
            plain = calendar.next_meeting()
            print("a Meeting, unregistered: a dict with keys", sorted(plain))

            # register both classes (client and server share this process here; in two
            # processes, each side registers what it sends and what it wants back)
            SerializerBase.register_class_to_dict(Meeting, meeting_to_dict)
            SerializerBase.register_dict_to_class("example.Meeting", dict_to_meeting)
            SerializerBase.register_class_to_dict(datetime.datetime, datetime_to_dict)
            SerializerBase.register_dict_to_class("datetime", dict_to_datetime)
            for serializer in ("serpent", "json", "msgpack"):
                calendar._pyroSerializer = serializer
                meeting = calendar.postpone(calendar.next_meeting(), 2)
                print(f"{serializer}: {meeting!r}, UTC offset {meeting.starts.utcoffset()}")
            utc = calendar.now_in_utc()
            print("a datetime, registered:", repr(utc))
            print("the same moment in Amsterdam:", utc.astimezone(AMSTERDAM).isoformat())
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()


if __name__ == "__main__":
    main()
