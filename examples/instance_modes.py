"""Instance modes: how many instances of a registered class the daemon creates.

When you register a *class* (not an instance), ``@zpyro.behavior(instance_mode=...)`` decides:

* ``"single"``  -- one instance shared by every caller;
* ``"session"`` -- one instance per connected proxy (the default, as in Pyro);
* ``"percall"`` -- a fresh instance for every call.

Each instance numbers itself when it is created; two proxies make two calls each and we look at
which instance answered and how many calls it had seen.
"""

import threading

import zpyro


@zpyro.behavior(instance_mode="single")
@zpyro.expose
class SingleCounter:
    created = 0  # instances of this class made so far

    def __init__(self):
        type(self).created += 1
        self.number = type(self).created
        self.calls = 0

    def whoami(self):
        self.calls += 1
        return self.number, self.calls


@zpyro.behavior(instance_mode="session")
@zpyro.expose
class SessionCounter(SingleCounter):
    created = 0


@zpyro.behavior(instance_mode="percall")
@zpyro.expose
class PercallCounter(SingleCounter):
    created = 0


def main():
    daemon = zpyro.Daemon(host="127.0.0.1")
    uris = {
        "single": daemon.register(SingleCounter, "example.single"),
        "session": daemon.register(SessionCounter, "example.session"),
        "percall": daemon.register(PercallCounter, "example.percall"),
    }
    thread = threading.Thread(target=daemon.request_loop)
    thread.start()
    try:
        for mode, uri in uris.items():
            answers = []  # (instance number, calls that instance has seen)
            for _ in range(2):  # two proxies = two sessions
                with zpyro.Proxy(uri) as proxy:
                    answers += [proxy.whoami() for _ in range(2)]  # two calls each
            instances = sorted({number for number, _ in answers})
            print(f"{mode:>7}: 4 calls from 2 proxies -> {len(instances)} instance(s): {answers}")
    finally:
        daemon.shutdown()
        thread.join(5)
        daemon.close()


if __name__ == "__main__":
    main()
