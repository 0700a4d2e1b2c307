"""Custom classes and time zones (Pyro4's timezones and custom-serialization examples, zpyro's
way). The safe serializers carry plain data; anything else travels as a dict:

* a datetime becomes its ISO text (the offset is in the text, nothing is lost, but it arrives a
  str) -- unless you register a converter for it, and then it arrives a datetime again;
* an instance of your own class becomes ``{"__class__": "module.Name", ...its attributes}``,
  and comes back as that dict -- unless the receiving side registers a converter that builds
  the object (zpyro never imports or builds a class just because a peer named it).

Converters are registered per process -- ``SerializerBase.register_class_to_dict`` for sending,
``register_dict_to_class`` for receiving, as a Pyro4 program spells it (also
``zpyro.register_class_to_dict``/``zpyro.register_dict_to_class``) -- and serve serpent, json
and msgpack alike.
"""

import datetime
import decimal
import threading

import zpyro
from zpyro.util import SerializerBase

TOKYO = datetime.timezone(datetime.timedelta(hours=9), "JST")
AMSTERDAM = datetime.timezone(datetime.timedelta(hours=2), "CEST")


class Money:
    def __init__(self, amount, currency):
        self.amount = decimal.Decimal(amount)
        self.currency = currency

    def __repr__(self):
        return f"Money('{self.amount}', '{self.currency}')"


@zpyro.expose
class Clock:
    def meeting(self, when):
        """The same moment, on Amsterdam's clock."""
        return when.astimezone(AMSTERDAM)

    def kind_of(self, value):
        return type(value).__name__

    def add_fee(self, price):
        return Money(price.amount + decimal.Decimal("0.50"), price.currency)


def money_to_dict(money):
    return {"__class__": "example.Money", "amount": str(money.amount), "currency": money.currency}


def dict_to_money(_classname, data):
    return Money(data["amount"], data["currency"])


def datetime_to_dict(when):
    return {"__class__": "datetime", "iso": when.isoformat()}


def dict_to_datetime(_classname, data):
    return datetime.datetime.fromisoformat(data["iso"])


def main():
    with zpyro.Daemon(host="127.0.0.1") as daemon:
        uri = daemon.register(Clock(), "example.clock")
        server = threading.Thread(target=daemon.request_loop)
        server.start()
        try:
            when = datetime.datetime(2026, 6, 1, 18, 30, tzinfo=TOKYO)
            with zpyro.Proxy(uri) as clock:
                print(f"without converters a datetime arrives as: {clock.kind_of(when)}")
                print(f"without converters Money arrives as: {clock.kind_of(Money('9.99', 'EUR'))}")

                # both sides of this example share the process, so one registration serves both
                SerializerBase.register_class_to_dict(datetime.datetime, datetime_to_dict)
                SerializerBase.register_dict_to_class("datetime", dict_to_datetime)
                SerializerBase.register_class_to_dict(Money, money_to_dict)
                SerializerBase.register_dict_to_class("example.Money", dict_to_money)

                print(f"with converters a datetime arrives as: {clock.kind_of(when)}")
                for serializer in ("serpent", "json", "msgpack"):
                    clock._pyroSerializer = serializer
                    there = clock.meeting(when)
                    print(
                        f"{serializer}: 18:30 in Tokyo (+0900) is {there:%H:%M (%z)} in "
                        f"Amsterdam (same moment: {there == when})"
                    )
                    print(f"{serializer}: with the fee: {clock.add_fee(Money('9.99', 'EUR'))}")
        finally:
            for name in ("datetime", "example.Money"):
                SerializerBase.unregister_dict_to_class(name)
            SerializerBase.unregister_class_to_dict(datetime.datetime)
            SerializerBase.unregister_class_to_dict(Money)
            daemon.shutdown()
            server.join(10)


if __name__ == "__main__":
    main()
