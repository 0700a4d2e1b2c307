"""Callbacks, Pyro-style: pass your registered object itself; hand out objects you register.

Two of Pyro's idioms, both resting on a registered object knowing its daemon
(``_pyroDaemon``, ``_pyroId``, set by ``register``):

* the client registers a listener in a daemon of its own and passes **the listener itself** to
  the server: a registered object travels as a proxy to it (autoproxy, also for arguments), so
  the server calls back into the client;
* the server's factory registers each job it makes with ``self._pyroDaemon.register(job)`` and
  returns it: the client gets a proxy to the job, which lives on in the server.
"""

import threading

import zpyro


# ---- the server side ----
@zpyro.expose
class Job:
    def __init__(self, name, listener):
        self.name = name
        self.listener = listener  # a proxy to the client's listener

    def run(self, steps):
        for step in range(1, steps + 1):
            self.listener.progress(self.name, step, steps)
        return f"{self.name} done"


@zpyro.expose
class JobFactory:
    def create(self, name, listener):
        print("server: listener arrived as", type(listener).__name__)
        job = Job(name, listener)
        self._pyroDaemon.register(job)  # the factory's own daemon serves the new job
        return job

    def whoami(self):
        return self._pyroId


# ---- the client side ----
class Listener:
    @zpyro.expose
    def progress(self, job, step, steps):
        print(f"client: {job} at step {step}/{steps}")


def serve(daemon):
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    return thread


def main():
    server = zpyro.Daemon(host="127.0.0.1")
    factory_uri = server.register(JobFactory(), "example.jobfactory")
    client = zpyro.Daemon(host="127.0.0.1")
    listener = Listener()
    client.register(listener)  # the client's own daemon, for the callbacks
    threads = [serve(server), serve(client)]
    try:
        with zpyro.Proxy(factory_uri) as factory:
            print("client: the factory is", factory.whoami())
            job = factory.create("backup", listener)  # the object itself, not a proxy
            print("client: got a", type(job).__name__, "for", job._pyroUri.object[:4] + "...")
            print("client:", job.run(3))
            job._pyroRelease()
    finally:
        for daemon, thread in zip((server, client), threads, strict=True):
            daemon.shutdown()
            thread.join(5)
            daemon.close()


if __name__ == "__main__":
    main()
