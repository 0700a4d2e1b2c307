"""A chat box (Pyro4 "chatbox"): clients join a channel with a callback object; every message
is pushed to the members' callbacks (oneway)."""

import signal

import Pyro4
import Pyro4.errors

signal.alarm(60)


@Pyro4.expose
@Pyro4.behavior(instance_mode="single")
class ChatBox(object):
    def __init__(self):
        self.channels = {}  # channel -> [(nick, callback proxy)]

    def join(self, channel, nick, callback):
        members = self.channels.setdefault(channel, [])
        if nick in [n for n, _ in members]:
            raise ValueError("this nick is already in use")
        members.append((nick, callback))
        self.publish(channel, "SERVER", "** " + nick + " joined **")
        return [n for n, _ in members]

    def leave(self, channel, nick):
        members = self.channels.get(channel, [])
        self.channels[channel] = [(n, c) for n, c in members if n != nick]
        self.publish(channel, "SERVER", "** " + nick + " left **")

    def publish(self, channel, nick, message):
        for member, callback in list(self.channels.get(channel, [])):
            try:
                callback.message(nick, message)  # oneway: a slow client does not hold us up
            except Pyro4.errors.ConnectionClosedError:
                self.channels[channel].remove((member, callback))


daemon = Pyro4.Daemon(host="127.0.0.1")
print("uri:", daemon.register(ChatBox, "example.chatbox"), flush=True)
daemon.requestLoop()
