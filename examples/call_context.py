"""Call context: a correlation id across nested calls, and annotations both ways.

* ``zpyro.current_context.correlation_id``: set it in the client; every call made from that
  thread carries it, and so does every nested call a server makes while serving one. Here the
  client calls a frontend, which calls a backend: all three see the same id.
* ``zpyro.current_context.annotations``: what the caller sent along with the call. A proxy
  subclass adds its own by overriding ``_pyroAnnotations()``.
* ``zpyro.current_context.response_annotations``: a dict the method fills to send data back
  with its reply; the client finds it in ``proxy._pyroLastResponseAnnotations``.
"""

import threading
import uuid

import zpyro


@zpyro.expose
class Backend:
    def stock(self, item):
        print(
            f"backend: stock({item!r}) with correlation id {zpyro.current_context.correlation_id}"
        )
        return 3


@zpyro.expose
class Frontend:
    def __init__(self, backend_uri):
        self.backend_uri = backend_uri

    def order(self, item):
        context = zpyro.current_context
        print(f"frontend: order({item!r}) with correlation id {context.correlation_id}")
        print(f"frontend: the client sent client_version={context.annotations['client_version']}")
        with zpyro.Proxy(self.backend_uri) as backend:  # a nested call, same correlation id
            in_stock = backend.stock(item)
        context.response_annotations["served_by"] = "frontend-1"
        return f"{item}: {in_stock} in stock"


class VersionedProxy(zpyro.Proxy):
    """A proxy that tells the server which client version is calling."""

    def _pyroAnnotations(self):
        return {**super()._pyroAnnotations(), "client_version": "2.1"}


def main():
    daemon = zpyro.Daemon(host="127.0.0.1")
    backend_uri = daemon.register(Backend(), "example.backend")
    frontend_uri = daemon.register(Frontend(backend_uri), "example.frontend")
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    try:
        zpyro.current_context.correlation_id = str(uuid.uuid4())
        print("client: correlation id", zpyro.current_context.correlation_id)
        with VersionedProxy(frontend_uri) as frontend:
            print("client: got", repr(frontend.order("teapot")))
            served_by = frontend._pyroLastResponseAnnotations["served_by"]
            print("client: the response said served_by =", served_by)
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()


if __name__ == "__main__":
    main()
