"""Callbacks: the server calls back into an object that lives in the client.

The client runs a daemon of its own (in a background thread), registers a listener object in
it and passes a proxy for that object to the server. The server calls the listener while it
works. ``@zpyro.callback`` on a listener method means an exception raised there is logged by
the client (the callee) as well as raised in the server that made the callback.

Both sides run in this one process for the example; they talk over tcp on 127.0.0.1 exactly as
they would between two machines.
"""

import logging
import sys
import threading

import zpyro

# the callback's exception is logged (logger "zpyro.dispatch"); show the log next to the prints
logging.basicConfig(stream=sys.stdout, format="[log] %(levelname)s %(name)s: %(message)s")


# ---- the server side ----
@zpyro.expose
class Calculator:
    def add_up(self, numbers, listener):
        total = 0
        for count, number in enumerate(numbers, 1):
            total += number
            listener.progress(count, len(numbers))  # a call back into the client
        return total

    def provoke(self, listener):
        try:
            listener.broken()
        except ValueError as exc:
            return f"the listener raised ValueError: {exc}"
        return "the listener did not raise"


# ---- the client side ----
@zpyro.expose
class Listener:
    @zpyro.callback
    def progress(self, done, total):
        print(f"client listener: progress {done}/{total}")

    @zpyro.callback
    def broken(self):
        raise ValueError("the listener cannot handle this")


def serve_in_thread(daemon):
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    return thread


def stop(daemon, thread):
    daemon.shutdown()
    thread.join(5)
    daemon.close()


def main():
    server_daemon = zpyro.Daemon(host="127.0.0.1")
    calculator_uri = server_daemon.register(Calculator(), "example.calculator")
    server_thread = serve_in_thread(server_daemon)

    client_daemon = zpyro.Daemon(host="127.0.0.1")  # the client's own daemon, for the callbacks
    listener = Listener()
    client_daemon.register(listener, "client.listener")
    client_thread = serve_in_thread(client_daemon)
    try:
        with zpyro.Proxy(calculator_uri) as calculator:
            listener_proxy = client_daemon.proxy_for(listener)
            total = calculator.add_up([1, 2, 3, 4], listener_proxy)
            print("client: the server added it up to", total)
            print("client: server says:", calculator.provoke(listener_proxy))
    finally:
        stop(client_daemon, client_thread)
        stop(server_daemon, server_thread)


if __name__ == "__main__":
    main()
