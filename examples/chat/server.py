"""The chat box: channels of members; each member is a callback proxy for the listener object
that lives in the member's own process. Publishing a message calls every member back (oneway).
A member whose process is gone is dropped the first time a delivery to it fails."""

import threading

import zpyro


@zpyro.expose
@zpyro.behavior(instance_mode="single")  # one chat box for everybody
class ChatBox:
    def __init__(self):
        self.lock = threading.Lock()
        self.channels = {}  # channel -> {nick: listener proxy}

    def join(self, channel, nick, listener):
        """Join `channel` as `nick`; `listener` (a proxy) gets every message. Returns the members."""
        with self.lock:
            members = self.channels.setdefault(channel, {})
            if nick in members:
                raise ValueError(f"{nick} is already in {channel}")
            members[nick] = listener
            names = sorted(members)
        self.publish(channel, "server", f"{nick} joined")
        return names

    def leave(self, channel, nick):
        with self.lock:
            self.channels.get(channel, {}).pop(nick, None)
        self.publish(channel, "server", f"{nick} left")

    def publish(self, channel, nick, text):
        with self.lock:
            members = list(self.channels.get(channel, {}).items())
        for member, listener in members:
            try:
                listener.message(channel, nick, text)  # oneway: a slow member holds nobody up
            except zpyro.errors.CommunicationError as exc:
                with self.lock:  # (two deliveries at once may both find it gone: say it once)
                    if self.channels.get(channel, {}).pop(member, None) is not None:
                        print(
                            f"server: dropped {member} from {channel} ({type(exc).__name__})",
                            flush=True,
                        )


def main():
    with zpyro.Daemon() as daemon:  # host: ZPYRO_HOST (run.py sets the loopback address)
        uri = daemon.register(ChatBox, "example.chat.box")
        with zpyro.locate_ns() as ns:  # NS_HOST/NS_PORT from the environment
            ns.register("example.chat.box", uri)
        print("chat server ready", flush=True)
        daemon.request_loop()


if __name__ == "__main__":
    main()
