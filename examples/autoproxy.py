"""Autoproxy: returning a registered object gives the caller a proxy to it, not a copy.

The factory below makes a new ``Car`` for every order and registers it in its own daemon. Because
the car is registered, ``factory.build(...)`` arrives in the client as a ``zpyro.Proxy`` to the
car that lives in the server: driving it changes the server's object, and every proxy to the
same car sees the same state. (An unregistered object would arrive as a plain copy instead.)
"""

import threading

import zpyro


@zpyro.expose
class Car:
    def __init__(self, model):
        self.model = model
        self.odometer = 0

    def drive(self, km):
        self.odometer += km
        return f"{self.model} drove {km} km, odometer at {self.odometer} km"


@zpyro.expose
class Factory:
    def __init__(self, daemon):
        self.daemon = daemon
        self.built = []

    def build(self, model):
        car = Car(model)
        self.daemon.register(car)  # registered -> travels as a proxy
        self.built.append(car)
        return car

    def garage(self):
        return [car for car in self.built]  # a list of registered objects: a list of proxies

    def total_km(self):
        return sum(car.odometer for car in self.built)


def main():
    daemon = zpyro.Daemon(host="127.0.0.1")
    uri = daemon.register(Factory(daemon), "example.factory")
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    try:
        with zpyro.Proxy(uri) as factory:
            beetle = factory.build("Beetle")
            print("build() returned a", type(beetle).__name__, "for", beetle._pyroUri)
            print(beetle.drive(120))
            print(beetle.drive(30))
            factory.build("Mini").drive(5)
            for car in factory.garage():
                print("in the garage:", car.drive(1))
                car._pyroRelease()
            print("the server's cars have driven", factory.total_km(), "km in total")
            beetle._pyroRelease()
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()


if __name__ == "__main__":
    main()
